/**
 * Human output on stderr: levels, journald priority prefixes under systemd,
 * and a progress line on terminals. The writer is injected, so this module
 * stays free of I/O; main.ts gives it stderr.
 *
 * @module
 */
import type { Verbosity } from "./cli.ts";

/** Where log lines go and how they are decorated. */
export interface LogOptions {
  readonly verbosity: Verbosity;
  /** Prefix lines with journald priorities (`<3>`, `<4>`, `<6>`, `<7>`). */
  readonly journal: boolean;
  /** stderr is a terminal: progress lines are drawn. */
  readonly terminal: boolean;
  readonly write: (text: string) => void;
  /** Clock for progress rates; injectable for tests. */
  readonly now?: () => number;
  /** The terminal's width in columns, asked at each draw; default 80. */
  readonly columns?: () => number;
}

/** The logger every command gets. */
export interface Log {
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
  /** Reports download progress; draws a line only on a terminal, at most ~10 times a second. */
  progress(label: string, received: number, total: number): void;
  /** Clears the progress line, if one is drawn. */
  endProgress(): void;
}

const PRIORITY = { error: 3, warn: 4, info: 6, debug: 7 } as const;
type Level = keyof typeof PRIORITY;

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** "1.5 GiB" style sizes. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes;
  let unit = 0;
  // Compare the rounded figure, so 1048575 bytes reads "1.0 MiB", not "1024.0 KiB".
  while (unit < UNITS.length - 1 && Number(value.toFixed(1)) >= 1024) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${UNITS[unit]}`;
}

/**
 * The longest message written, in characters. Every untrusted string in a
 * message is shortened where it is quoted; this bounds the line as a whole,
 * keeping its start (which config) and its end (the cause).
 */
export const MAX_MESSAGE_CHARS = 2000;

/** A message cut to {@link MAX_MESSAGE_CHARS}, from the middle. */
export function boundMessage(message: string): string {
  if (message.length <= MAX_MESSAGE_CHARS) return message;
  const half = MAX_MESSAGE_CHARS / 2 - 1;
  return `${message.slice(0, half)} … ${message.slice(-half)}`;
}

/**
 * The progress line: label (the version), bytes, total, percentage, rate and
 * time left, fitted into `width` columns (one is kept free, so that the line
 * never wraps): the rate and time go first, then the byte counts, then the
 * label is shortened.
 */
export function formatProgress(
  label: string,
  received: number,
  total: number,
  elapsedMs: number,
  width = 80,
): string {
  const percent = total > 0 ? Math.floor((received / total) * 100) : 100;
  const rate = elapsedMs > 0 ? received / (elapsedMs / 1000) : 0;
  const eta = rate > 0 ? Math.ceil(Math.max(0, total - received) / rate) : undefined;
  const etaText = eta === undefined
    ? "--"
    : `${Math.floor(eta / 60)}:${String(eta % 60).padStart(2, "0")}`;
  const room = Math.max(1, width - 1);
  const tails = [
    ` ${formatBytes(received)} / ${formatBytes(total)} ${percent}% ` +
    `${formatBytes(Math.round(rate))}/s ETA ${etaText}`,
    ` ${formatBytes(received)} / ${formatBytes(total)} ${percent}%`,
    ` ${percent}%`,
  ];
  for (const tail of tails) {
    if (label.length + tail.length <= room) return label + tail;
  }
  const tail = tails[tails.length - 1]!;
  const labelRoom = room - tail.length;
  if (labelRoom < 2) return tail.trimStart().slice(0, room);
  return label.slice(0, labelRoom - 1) + "…" + tail;
}

/** Creates a logger. */
export function createLog(options: LogOptions): Log {
  const now = options.now ?? Date.now;
  let progressDrawn = false;
  let progressActive = false;
  let progressStart = 0;
  let lastDraw = 0;

  const shown = (level: Level): boolean => {
    switch (options.verbosity) {
      case "quiet":
        return level === "error";
      case "normal":
        return level !== "debug";
      case "verbose":
        return true;
    }
  };

  const clearProgress = () => {
    if (progressDrawn) {
      options.write("\r\x1b[K");
      progressDrawn = false;
    }
  };

  const emit = (level: Level, message: string) => {
    if (!shown(level)) return;
    clearProgress();
    const prefix = options.journal
      ? `<${PRIORITY[level]}>`
      : level === "error"
      ? "tako: error: "
      : level === "warn"
      ? "tako: warning: "
      : "tako: ";
    // One line per record, so journald keeps each message whole with its priority.
    options.write(`${prefix}${boundMessage(message.replaceAll("\n", " "))}\n`);
  };

  return {
    error: (m) => emit("error", m),
    warn: (m) => emit("warn", m),
    info: (m) => emit("info", m),
    debug: (m) => emit("debug", m),
    progress(label, received, total) {
      if (!options.terminal || options.verbosity === "quiet") return;
      const t = now();
      if (!progressActive) {
        progressActive = true;
        progressStart = t;
      }
      if (received < total && progressDrawn && t - lastDraw < 100) return;
      lastDraw = t;
      const width = options.columns?.() ?? 80;
      const line = formatProgress(label, received, total, t - progressStart, width);
      options.write(`\r\x1b[K${line}`);
      progressDrawn = true;
    },
    endProgress() {
      clearProgress();
      progressActive = false;
    },
  };
}
