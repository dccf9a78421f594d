/*
 * faultfs: an LD_PRELOAD shim that numbers every file-system step a process
 * takes inside one directory tree and injects a fault at step K.
 *
 * Why not strace's `-e inject=...:when=K` alone: strace counts invocations per
 * syscall *and per thread*, and Deno runs file operations on a pool of
 * blocking threads, so "the K-th write" differs from run to run. This shim
 * counts with one process-wide atomic counter, only the calls whose path (or
 * whose file descriptor's path, read from /proc/self/fd) lies under
 * FAULTFS_ROOT, and so gives every step a stable number. The strace
 * cross-check in tests/torture/kill_steps_test.ts confirms it sees every
 * step strace sees.
 *
 * Environment:
 *   FAULTFS_ROOT    absolute path (no symlinks) of the tree to watch
 *   FAULTFS_LOG     file to append "<n> <op> <path> [<new path>]" to, for each step
 *   FAULTFS_AT      the step to act on (1-based); unset or 0: only count
 *   FAULTFS_ACTION  kill-before | kill-after | enospc | eio
 *   FAULTFS_OPS     which ops count as steps: "all" (default), "write" or "sync"
 *
 * enospc: the K-th write writes half its bytes and returns that short count
 * (as a filling disk does); every later write under the root fails ENOSPC.
 * eio: the K-th step fails with EIO (meant for FAULTFS_OPS=sync).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum action { NONE, KILL_BEFORE, KILL_AFTER, ENOSPC_AT, EIO_AT };
enum ops { OPS_ALL, OPS_WRITE, OPS_SYNC };

static char root[PATH_MAX];
static size_t root_len;
static int log_fd = -1;
static long at;
static enum action action = NONE;
static enum ops ops = OPS_ALL;
static long counter;
static int disk_full;

__attribute__((constructor)) static void faultfs_init(void) {
  /* Deno refuses to spawn a child (systemctl) while LD_PRELOAD is set, and the child needs no shim. */
  unsetenv("LD_PRELOAD");
  const char *r = getenv("FAULTFS_ROOT");
  if (r == NULL || r[0] != '/' || strlen(r) >= sizeof root) return;
  strcpy(root, r);
  root_len = strlen(root);
  while (root_len > 1 && root[root_len - 1] == '/') root[--root_len] = '\0';
  const char *log = getenv("FAULTFS_LOG");
  if (log != NULL) {
    log_fd = (int)syscall(SYS_openat, AT_FDCWD, log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  }
  const char *a = getenv("FAULTFS_AT");
  if (a != NULL) at = strtol(a, NULL, 10);
  const char *act = getenv("FAULTFS_ACTION");
  if (act != NULL) {
    if (strcmp(act, "kill-before") == 0) action = KILL_BEFORE;
    else if (strcmp(act, "kill-after") == 0) action = KILL_AFTER;
    else if (strcmp(act, "enospc") == 0) action = ENOSPC_AT;
    else if (strcmp(act, "eio") == 0) action = EIO_AT;
  }
  const char *o = getenv("FAULTFS_OPS");
  if (o != NULL && strcmp(o, "write") == 0) ops = OPS_WRITE;
  if (o != NULL && strcmp(o, "sync") == 0) ops = OPS_SYNC;
}

static int under_root(const char *path) {
  if (root_len == 0 || path == NULL) return 0;
  return strncmp(path, root, root_len) == 0 && (path[root_len] == '\0' || path[root_len] == '/');
}

/* The absolute form of `path` relative to `dirfd` (no normalisation: Tako passes clean paths). */
static int absolute(int dirfd, const char *path, char *out) {
  if (path == NULL) return 0;
  if (path[0] == '/') {
    snprintf(out, PATH_MAX, "%s", path);
    return 1;
  }
  char base[PATH_MAX];
  if (dirfd == AT_FDCWD) {
    if (syscall(SYS_getcwd, base, sizeof base) < 0) return 0;
  } else {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
    ssize_t n = readlink(link, base, sizeof base - 1);
    if (n < 0) return 0;
    base[n] = '\0';
  }
  size_t b = strlen(base), q = strlen(path);
  if (b + 1 + q >= PATH_MAX) return 0;
  memcpy(out, base, b);
  out[b] = '/';
  memcpy(out + b + 1, path, q + 1);
  return 1;
}

static int fd_path(int fd, char *out) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, out, PATH_MAX - 1);
  if (n < 0) return 0;
  out[n] = '\0';
  return 1;
}

static void log_step(long n, const char *op, const char *path, const char *path2) {
  if (log_fd < 0) return;
  char line[2 * PATH_MAX + 64];
  int len = path2 == NULL ? snprintf(line, sizeof line, "%ld %s %s\n", n, op, path)
                          : snprintf(line, sizeof line, "%ld %s %s %s\n", n, op, path, path2);
  if (len > 0) syscall(SYS_write, log_fd, line, (size_t)len);
}

static void die(void) {
  syscall(SYS_kill, getpid(), SIGKILL);
  for (;;) pause();
}

/*
 * Numbers a step when `path` (or `path2`, a rename's target) is under the root and `kind` counts
 * under FAULTFS_OPS; returns the action to take now (the kill-after action is
 * returned too, for the caller to run after the real call).
 */
static enum action step(const char *op, int kind_ok, const char *path, const char *path2) {
  if (!(under_root(path) || under_root(path2)) || !kind_ok) return NONE;
  long n = __atomic_add_fetch(&counter, 1, __ATOMIC_SEQ_CST);
  log_step(n, op, path, path2);
  if (n != at) return NONE;
  if (action == KILL_BEFORE) die();
  return action;
}

#define REAL(name) \
  static __typeof__(&name) real_##name; \
  if (!real_##name) real_##name = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

static int counts_all(void) { return ops == OPS_ALL; }

/* ------------------------------------------------------------------ opens */

static int open_common(const char *op, int dirfd, const char *path, int flags) {
  char abs[PATH_MAX];
  if (!absolute(dirfd, path, abs)) return 0;
  enum action a = step(op, counts_all(), abs, NULL);
  (void)flags;
  return a;
}

#define OPEN_WRAPPER(name, args, call, dirfd)                                   \
  int name args {                                                               \
    mode_t mode = 0;                                                            \
    if (flags & (O_CREAT | O_TMPFILE)) {                                        \
      va_list ap;                                                               \
      va_start(ap, flags);                                                      \
      mode = va_arg(ap, mode_t);                                                \
      va_end(ap);                                                               \
    }                                                                           \
    int a = open_common(#name, dirfd, path, flags);                             \
    if (a == EIO_AT) { errno = EIO; return -1; }                                \
    int r = call;                                                               \
    if (a == KILL_AFTER) die();                                                 \
    return r;                                                                   \
  }

typedef int (*open_t)(const char *, int, ...);
typedef int (*openat_t)(int, const char *, int, ...);

static int call_open(const char *sym, const char *path, int flags, mode_t mode) {
  open_t f = (open_t)dlsym(RTLD_NEXT, sym);
  return f(path, flags, mode);
}
static int call_openat(const char *sym, int dirfd, const char *path, int flags, mode_t mode) {
  openat_t f = (openat_t)dlsym(RTLD_NEXT, sym);
  return f(dirfd, path, flags, mode);
}

OPEN_WRAPPER(open, (const char *path, int flags, ...), call_open("open", path, flags, mode), AT_FDCWD)
OPEN_WRAPPER(open64, (const char *path, int flags, ...), call_open("open64", path, flags, mode), AT_FDCWD)
OPEN_WRAPPER(openat, (int dirfd, const char *path, int flags, ...),
             call_openat("openat", dirfd, path, flags, mode), dirfd)
OPEN_WRAPPER(openat64, (int dirfd, const char *path, int flags, ...),
             call_openat("openat64", dirfd, path, flags, mode), dirfd)

int creat(const char *path, mode_t mode) { return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode); }

/* ----------------------------------------------------------------- writes */

/* Runs the injection for a write of `count` bytes to `fd`; returns 1 when `*result` is the answer. */
static int write_fault(const char *op, int fd, size_t count, ssize_t *result, size_t *shortened, enum action *after) {
  char path[PATH_MAX];
  *after = NONE;
  if (root_len == 0 || !fd_path(fd, path) || !under_root(path)) return 0;
  if (disk_full) {
    step(op, ops != OPS_SYNC, path, NULL);
    errno = ENOSPC;
    *result = -1;
    return 1;
  }
  enum action a = step(op, ops != OPS_SYNC, path, NULL);
  if (a == ENOSPC_AT) {
    disk_full = 1;
    if (count <= 1) {
      errno = ENOSPC;
      *result = -1;
      return 1;
    }
    *shortened = count / 2;
  } else if (a == EIO_AT) {
    errno = EIO;
    *result = -1;
    return 1;
  }
  *after = a;
  return 0;
}

ssize_t write(int fd, const void *buf, size_t count) {
  REAL(write);
  ssize_t result;
  size_t n = count;
  enum action after = NONE;
  if (fd > 2 && write_fault("write", fd, count, &result, &n, &after)) return result;
  ssize_t r = real_write(fd, buf, n);
  if (fd > 2 && after == KILL_AFTER) die();
  return r;
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset) {
  REAL(pwrite64);
  ssize_t result;
  size_t n = count;
  enum action after = NONE;
  if (write_fault("pwrite64", fd, count, &result, &n, &after)) return result;
  ssize_t r = real_pwrite64(fd, buf, n, offset);
  if (after == KILL_AFTER) die();
  return r;
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) { return pwrite64(fd, buf, count, offset); }

ssize_t writev(int fd, const struct iovec *iov, int iovcnt) {
  REAL(writev);
  size_t total = 0;
  for (int i = 0; i < iovcnt; i++) total += iov[i].iov_len;
  ssize_t result;
  size_t n = total;
  enum action after = NONE;
  if (fd > 2 && write_fault("writev", fd, total, &result, &n, &after)) return result;
  ssize_t r;
  if (n < total && iovcnt > 0) {
    REAL(write);
    r = real_write(fd, iov[0].iov_base, n < iov[0].iov_len ? n : iov[0].iov_len);
  } else {
    r = real_writev(fd, iov, iovcnt);
  }
  if (fd > 2 && after == KILL_AFTER) die();
  return r;
}

/* ---------------------------------------------------------------- flushes */

#define SYNC_WRAPPER(name)                                                      \
  int name(int fd) {                                                            \
    REAL(name);                                                   \
    char path[PATH_MAX];                                                        \
    enum action a = NONE;                                                       \
    if (root_len != 0 && fd_path(fd, path)) a = step(#name, ops != OPS_WRITE, path, NULL); \
    if (a == EIO_AT) { errno = EIO; return -1; }                               \
    int r = real_##name(fd);                                                    \
    if (a == KILL_AFTER) die();                                                 \
    return r;                                                                   \
  }

SYNC_WRAPPER(fsync)
SYNC_WRAPPER(fdatasync)

/* ---------------------------------------------------- path-based changes */

#define PATH_STEP(op, p1, p2)                                                   \
  enum action a = step(op, counts_all(), p1, p2);                              \
  if (a == EIO_AT) { errno = EIO; return -1; }

int rename(const char *from, const char *to) {
  REAL(rename);
  char a1[PATH_MAX], a2[PATH_MAX];
  if (!absolute(AT_FDCWD, from, a1) || !absolute(AT_FDCWD, to, a2)) return real_rename(from, to);
  PATH_STEP("rename", a1, a2);
  int r = real_rename(from, to);
  if (a == KILL_AFTER) die();
  return r;
}

int renameat(int fd1, const char *from, int fd2, const char *to) {
  REAL(renameat);
  char a1[PATH_MAX], a2[PATH_MAX];
  if (!absolute(fd1, from, a1) || !absolute(fd2, to, a2)) return real_renameat(fd1, from, fd2, to);
  PATH_STEP("renameat", a1, a2);
  int r = real_renameat(fd1, from, fd2, to);
  if (a == KILL_AFTER) die();
  return r;
}

int renameat2(int fd1, const char *from, int fd2, const char *to, unsigned int flags) {
  REAL(renameat2);
  char a1[PATH_MAX], a2[PATH_MAX];
  if (!absolute(fd1, from, a1) || !absolute(fd2, to, a2)) return real_renameat2(fd1, from, fd2, to, flags);
  PATH_STEP("renameat2", a1, a2);
  int r = real_renameat2(fd1, from, fd2, to, flags);
  if (a == KILL_AFTER) die();
  return r;
}

int symlink(const char *target, const char *linkpath) {
  REAL(symlink);
  char abs[PATH_MAX];
  if (!absolute(AT_FDCWD, linkpath, abs)) return real_symlink(target, linkpath);
  PATH_STEP("symlink", abs, NULL);
  int r = real_symlink(target, linkpath);
  if (a == KILL_AFTER) die();
  return r;
}

int symlinkat(const char *target, int dirfd, const char *linkpath) {
  REAL(symlinkat);
  char abs[PATH_MAX];
  if (!absolute(dirfd, linkpath, abs)) return real_symlinkat(target, dirfd, linkpath);
  PATH_STEP("symlinkat", abs, NULL);
  int r = real_symlinkat(target, dirfd, linkpath);
  if (a == KILL_AFTER) die();
  return r;
}

int unlink(const char *path) {
  REAL(unlink);
  char abs[PATH_MAX];
  if (!absolute(AT_FDCWD, path, abs)) return real_unlink(path);
  PATH_STEP("unlink", abs, NULL);
  int r = real_unlink(path);
  if (a == KILL_AFTER) die();
  return r;
}

int unlinkat(int dirfd, const char *path, int flags) {
  REAL(unlinkat);
  char abs[PATH_MAX];
  if (!absolute(dirfd, path, abs)) return real_unlinkat(dirfd, path, flags);
  PATH_STEP("unlinkat", abs, NULL);
  int r = real_unlinkat(dirfd, path, flags);
  if (a == KILL_AFTER) die();
  return r;
}

int rmdir(const char *path) {
  REAL(rmdir);
  char abs[PATH_MAX];
  if (!absolute(AT_FDCWD, path, abs)) return real_rmdir(path);
  PATH_STEP("rmdir", abs, NULL);
  int r = real_rmdir(path);
  if (a == KILL_AFTER) die();
  return r;
}

int mkdir(const char *path, mode_t mode) {
  REAL(mkdir);
  char abs[PATH_MAX];
  if (!absolute(AT_FDCWD, path, abs)) return real_mkdir(path, mode);
  PATH_STEP("mkdir", abs, NULL);
  int r = real_mkdir(path, mode);
  if (a == KILL_AFTER) die();
  return r;
}

int mkdirat(int dirfd, const char *path, mode_t mode) {
  REAL(mkdirat);
  char abs[PATH_MAX];
  if (!absolute(dirfd, path, abs)) return real_mkdirat(dirfd, path, mode);
  PATH_STEP("mkdirat", abs, NULL);
  int r = real_mkdirat(dirfd, path, mode);
  if (a == KILL_AFTER) die();
  return r;
}

int chmod(const char *path, mode_t mode) {
  REAL(chmod);
  char abs[PATH_MAX];
  if (!absolute(AT_FDCWD, path, abs)) return real_chmod(path, mode);
  PATH_STEP("chmod", abs, NULL);
  int r = real_chmod(path, mode);
  if (a == KILL_AFTER) die();
  return r;
}

int fchmodat(int dirfd, const char *path, mode_t mode, int flags) {
  REAL(fchmodat);
  char abs[PATH_MAX];
  if (!absolute(dirfd, path, abs)) return real_fchmodat(dirfd, path, mode, flags);
  PATH_STEP("fchmodat", abs, NULL);
  int r = real_fchmodat(dirfd, path, mode, flags);
  if (a == KILL_AFTER) die();
  return r;
}

int fchmod(int fd, mode_t mode) {
  REAL(fchmod);
  char path[PATH_MAX];
  if (root_len == 0 || !fd_path(fd, path)) return real_fchmod(fd, mode);
  PATH_STEP("fchmod", path, NULL);
  int r = real_fchmod(fd, mode);
  if (a == KILL_AFTER) die();
  return r;
}

int ftruncate64(int fd, off_t length) {
  REAL(ftruncate64);
  char path[PATH_MAX];
  if (root_len == 0 || !fd_path(fd, path)) return real_ftruncate64(fd, length);
  PATH_STEP("ftruncate", path, NULL);
  int r = real_ftruncate64(fd, length);
  if (a == KILL_AFTER) die();
  return r;
}

int ftruncate(int fd, off_t length) { return ftruncate64(fd, length); }
