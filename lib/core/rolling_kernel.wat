;; The hot loop of the rolling match, in WebAssembly: rolling_sum.ts
;; `RollingScan` lays out the memory, copies each stretch of a local image
;; into it and handles what this loop stops at. `make wasm` assembles it
;; (wat2wasm) into rolling_kernel_wasm.ts; a test holds the two together.
;;
;; roll(at, last, block, filter, shift):
;;   memory[0..16): rsync's sums a, b of the window at `at` and a, b of the
;;   window after it (int32 each), read on entry and written back on return;
;;   the windows' bytes lie at `at`, `at + block`, `at + 2 * block`.
;;   Moves both windows one byte at a time until the pair key of the sums
;;   ((b << 16) | (b2 & 0xffff)) passes the filter (two bit tests in the bit
;;   array at `filter`, by the key's two hashes, each `>>> shift`) and returns that offset, or
;;   returns -1 once offset `last` was tested and did not pass. Int32
;;   arithmetic wraps, as the JavaScript it replaces (`| 0`, Math.imul).
(module
  (import "tako" "memory" (memory 1))
  (func (export "roll")
    (param $at i32) (param $last i32) (param $block i32) (param $filter i32)
    (param $shift i32)
    (result i32)
    (local $a i32) (local $b i32) (local $a2 i32) (local $b2 i32)
    (local $key i32) (local $bit i32) (local $out i32) (local $middle i32) (local $block2 i32)
    (local.set $a (i32.load (i32.const 0)))
    (local.set $b (i32.load (i32.const 4)))
    (local.set $a2 (i32.load (i32.const 8)))
    (local.set $b2 (i32.load (i32.const 12)))
    (local.set $block2 (i32.shl (local.get $block) (i32.const 1)))
    (block $stop
      (loop $next
        (local.set $key
          (i32.or
            (i32.shl (local.get $b) (i32.const 16))
            (i32.and (local.get $b2) (i32.const 0xffff))))
        ;; First hash: FILTER_MIX. The second is tested only when the first passes.
        (local.set $bit
          (i32.shr_u (i32.mul (local.get $key) (i32.const 0x85ebca6b)) (local.get $shift)))
        (if
          (i32.and
            (i32.load
              (i32.add (local.get $filter)
                (i32.shl (i32.shr_u (local.get $bit) (i32.const 5)) (i32.const 2))))
            (i32.shl (i32.const 1) (local.get $bit)))
          (then
            ;; Second hash: FILTER_MIX2.
            (local.set $bit
              (i32.shr_u (i32.mul (local.get $key) (i32.const 0xc2b2ae35)) (local.get $shift)))
            (br_if $stop
              (i32.and
                (i32.load
                  (i32.add (local.get $filter)
                    (i32.shl (i32.shr_u (local.get $bit) (i32.const 5)) (i32.const 2))))
                (i32.shl (i32.const 1) (local.get $bit))))))
        (if (i32.ge_s (local.get $at) (local.get $last))
          (then
            (local.set $at (i32.const -1))
            (br $stop)))
        (local.set $out (i32.load8_u (local.get $at)))
        (local.set $middle (i32.load8_u (i32.add (local.get $at) (local.get $block))))
        (local.set $a (i32.sub (i32.add (local.get $a) (local.get $middle)) (local.get $out)))
        (local.set $b
          (i32.sub
            (i32.add (local.get $b) (local.get $a))
            (i32.mul (local.get $block) (local.get $out))))
        (local.set $a2
          (i32.sub
            (i32.add (local.get $a2)
              (i32.load8_u (i32.add (local.get $at) (local.get $block2))))
            (local.get $middle)))
        (local.set $b2
          (i32.sub
            (i32.add (local.get $b2) (local.get $a2))
            (i32.mul (local.get $block) (local.get $middle))))
        (local.set $at (i32.add (local.get $at) (i32.const 1)))
        (br $next)))
    (i32.store (i32.const 0) (local.get $a))
    (i32.store (i32.const 4) (local.get $b))
    (i32.store (i32.const 8) (local.get $a2))
    (i32.store (i32.const 12) (local.get $b2))
    (local.get $at)))
