/*
 * hf-spawn: the watchdog's process starter for the forking modes. Node's spawn fork()s the whole watchdog and blocks
 * its event loop until the child has exec'd; this small long-lived process starts children with vfork (nothing
 * copied) instead and carries their stdio over one pipe pair, so the watchdog never blocks.
 *
 * Frames both ways: u32 payload length, u8 type, u32 child id (little endian), then the payload.
 *   watchdog -> helper: SPAWN (u32 argc, u32 envc, then path, argv and env as NUL-terminated strings), STDIN (bytes),
 *                       STDIN_EOF, KILL (u8 signal number)
 *   helper -> watchdog: SPAWNED (u32 pid), SPAWN_ERR (i32 errno), STDOUT (bytes), STDERR (bytes),
 *                       EXIT (i32 exit code or -1, i32 signal or 0), sent once stdout and stderr ended and the child was reaped
 * The helper reads frames on stdin and writes them on stdout; its stderr is the watchdog's. When its stdin ends (the
 * watchdog is gone) it kills every child it started and exits; it also dies with its parent (PR_SET_PDEATHSIG).
 * Usage: hf-spawn <the watchdog's pid>
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

enum { F_SPAWN = 1, F_STDIN = 2, F_STDIN_EOF = 3, F_KILL = 4, F_SPAWNED = 10, F_SPAWN_ERR = 11, F_STDOUT = 12, F_STDERR = 13, F_EXIT = 14 };

typedef struct {
  uint32_t id;
  pid_t pid;
  int in, out, err; /* -1 when closed */
  char *inbuf;      /* stdin bytes not yet written */
  size_t inlen, incap;
  int ineof;   /* close stdin once inbuf is written */
  int reaped;  /* waitpid done */
  int status;
} child_t;

static child_t *kids;
static size_t nkids, capkids;
static int sigfd;

static void die(const char *what) {
  fprintf(stderr, "hf-spawn: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void put32(unsigned char *p, uint32_t v) {
  p[0] = v & 0xff; p[1] = (v >> 8) & 0xff; p[2] = (v >> 16) & 0xff; p[3] = (v >> 24) & 0xff;
}
static uint32_t get32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static void write_all(const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(1, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) { struct pollfd w = { 1, POLLOUT, 0 }; poll(&w, 1, -1); continue; }
      exit(0); /* the watchdog is gone */
    }
    p += n;
    len -= (size_t)n;
  }
}

/* Frames for the watchdog collect in out and go in one write per turn of the loop (flush), so a request's frames
 * wake the watchdog once rather than once each. */
static unsigned char *out;
static size_t outlen, outcap;

static void flush(void) {
  if (outlen) write_all(out, outlen);
  outlen = 0;
}

static void send_frame(int type, uint32_t id, const void *data, size_t len) {
  if (outlen + 9 + len > outcap) {
    if (outlen) flush();
    if (9 + len > outcap) {
      outcap = 9 + len > 65536 ? 9 + len : 65536;
      out = realloc(out, outcap);
      if (!out) { fprintf(stderr, "hf-spawn: out of memory\n"); exit(1); }
    }
  }
  unsigned char *h = out + outlen;
  put32(h, (uint32_t)len);
  h[4] = (unsigned char)type;
  put32(h + 5, id);
  if (len) memcpy(h + 9, data, len);
  outlen += 9 + len;
}

static child_t *find(uint32_t id) {
  for (size_t i = 0; i < nkids; i++) if (kids[i].id == id) return &kids[i];
  return NULL;
}

static void close_fd(int *fd) {
  if (*fd >= 0) { close(*fd); *fd = -1; }
}

/* flush_in writes what it can of a child's pending stdin; closes stdin when asked to and nothing is left. */
static void flush_in(child_t *k) {
  while (k->in >= 0 && k->inlen > 0) {
    ssize_t n = write(k->in, k->inbuf, k->inlen);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return;
      k->inlen = 0; /* EPIPE: the child does not read its stdin any more */
      close_fd(&k->in);
      return;
    }
    memmove(k->inbuf, k->inbuf + n, k->inlen - (size_t)n);
    k->inlen -= (size_t)n;
  }
  if (k->ineof && k->inlen == 0) close_fd(&k->in);
}

/* ksigaction is the kernel's struct sigaction; all zero means SIG_DFL, no flags, empty mask. */
struct ksigaction {
  void *handler;
  unsigned long flags;
  void *restorer;
  uint64_t mask;
};

/*
 * spawn_child starts path with vfork, the way Go's os/exec does: nothing of the helper is copied, and the helper waits
 * only until the child has exec'd. The child starts as one of Node's or Go's would: no signal blocked and no signal
 * ignored (the helper ignores SIGPIPE; glibc's posix_spawn would also leave its two internal real-time signals
 * ignored across the exec, hence vfork here), stdio on the three pipes. A path without a slash is looked up on PATH.
 * Returns the pid, or -1 with *err set.
 */
static pid_t spawn_child(const char *path, char **argv, char **envp, int in, int out, int errfd, int *err) {
  static const struct ksigaction dfl;
  static const uint64_t none;
  volatile int child_errno = 0;
  const char *p = strchr(path, '/') ? path : NULL;
  pid_t pid = vfork();
  if (pid == 0) {
    /* The child shares the helper's memory until exec: raw system calls only, and child_errno. */
    syscall(SYS_rt_sigaction, SIGPIPE, &dfl, NULL, 8);
    syscall(SYS_rt_sigaction, 32, &dfl, NULL, 8);
    syscall(SYS_rt_sigaction, 33, &dfl, NULL, 8);
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, 8);
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0) {
      child_errno = errno;
      _exit(127);
    }
    if (p) execve(p, argv, envp);
    else execvpe(path, argv, envp);
    child_errno = errno;
    _exit(127);
  }
  if (pid < 0) {
    *err = errno;
    return -1;
  }
  if (child_errno) {
    /* it never ran: reap it here, so no EXIT is reported for it */
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    *err = child_errno;
    return -1;
  }
  return pid;
}

static void do_spawn(uint32_t id, const unsigned char *p, size_t len) {
  if (len < 8) { int e = EINVAL; send_frame(F_SPAWN_ERR, id, &e, 4); return; }
  uint32_t argc = get32(p), envc = get32(p + 4);
  size_t n = 1 + (size_t)argc + (size_t)envc;
  char **strs = calloc(n + 2, sizeof(char *));
  if (!strs) die("calloc");
  const char *s = (const char *)p + 8, *end = (const char *)p + len;
  for (size_t i = 0; i < n; i++) {
    const char *z = memchr(s, 0, (size_t)(end - s));
    if (!z) { free(strs); int e = EINVAL; send_frame(F_SPAWN_ERR, id, &e, 4); return; }
    strs[i] = (char *)s;
    s = z + 1;
  }
  char *path = strs[0];
  char **argv = calloc(argc + 1, sizeof(char *));
  char **envp = calloc(envc + 1, sizeof(char *));
  if (!argv || !envp) die("calloc");
  for (uint32_t i = 0; i < argc; i++) argv[i] = strs[1 + i];
  for (uint32_t i = 0; i < envc; i++) envp[i] = strs[1 + argc + i];

  int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
  int rc = 0;
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) rc = errno;
  pid_t pid = -1;
  if (!rc) {
    pid = spawn_child(path, argv, envp, in[0], out[1], err[1], &rc);
  }
  /* the child's ends are the child's now (or nobody's, on failure) */
  if (in[0] >= 0) close(in[0]);
  if (out[1] >= 0) close(out[1]);
  if (err[1] >= 0) close(err[1]);
  free(strs);
  free(argv);
  free(envp);
  if (rc) {
    if (in[1] >= 0) close(in[1]);
    if (out[0] >= 0) close(out[0]);
    if (err[0] >= 0) close(err[0]);
    int e = rc;
    send_frame(F_SPAWN_ERR, id, &e, 4);
    return;
  }
  fcntl(in[1], F_SETFL, O_NONBLOCK);
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  fcntl(err[0], F_SETFL, O_NONBLOCK);
  if (nkids == capkids) {
    capkids = capkids ? capkids * 2 : 64;
    kids = realloc(kids, capkids * sizeof(child_t));
    if (!kids) die("realloc");
  }
  child_t *k = &kids[nkids++];
  memset(k, 0, sizeof *k);
  k->id = id;
  k->pid = pid;
  k->in = in[1];
  k->out = out[0];
  k->err = err[0];
  unsigned char b[4];
  put32(b, (uint32_t)pid);
  send_frame(F_SPAWNED, id, b, 4);
}

static void on_frame(int type, uint32_t id, const unsigned char *p, size_t len) {
  child_t *k;
  switch (type) {
    case F_SPAWN:
      do_spawn(id, p, len);
      break;
    case F_STDIN:
      if (!(k = find(id)) || k->in < 0) break;
      if (k->inlen + len > k->incap) {
        k->incap = (k->inlen + len) * 2;
        k->inbuf = realloc(k->inbuf, k->incap);
        if (!k->inbuf) die("realloc");
      }
      memcpy(k->inbuf + k->inlen, p, len);
      k->inlen += len;
      flush_in(k);
      break;
    case F_STDIN_EOF:
      if (!(k = find(id))) break;
      k->ineof = 1;
      flush_in(k);
      break;
    case F_KILL:
      if ((k = find(id)) && !k->reaped && len >= 1) kill(k->pid, p[0]);
      break;
  }
}

/* drain reads one chunk of a child's stdout or stderr into a frame; on EOF the fd is closed. */
static void drain(child_t *k, int *fd, int type) {
  static unsigned char buf[65536];
  for (;;) {
    ssize_t n = read(*fd, buf, sizeof buf);
    if (n > 0) { send_frame(type, k->id, buf, (size_t)n); if ((size_t)n < sizeof buf) return; continue; }
    if (n < 0 && (errno == EINTR)) continue;
    if (n < 0 && errno == EAGAIN) return;
    close_fd(fd);
    return;
  }
}

static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (size_t i = 0; i < nkids; i++)
      if (kids[i].pid == pid && !kids[i].reaped) { kids[i].reaped = 1; kids[i].status = status; break; }
  }
}

/* finish sends EXIT for children whose output ended and who were reaped, and forgets them. */
static void finish(void) {
  for (size_t i = 0; i < nkids;) {
    child_t *k = &kids[i];
    if (k->reaped && k->out < 0 && k->err < 0) {
      int32_t r[2];
      r[0] = WIFEXITED(k->status) ? WEXITSTATUS(k->status) : -1;
      r[1] = WIFSIGNALED(k->status) ? WTERMSIG(k->status) : 0;
      send_frame(F_EXIT, k->id, r, 8);
      close_fd(&k->in);
      free(k->inbuf);
      kids[i] = kids[--nkids];
      continue;
    }
    i++;
  }
}

int main(int argc, char **argv) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  /* argv[1] is the watchdog's pid: if the parent is another process now, the watchdog died before PDEATHSIG was
   * set. (The watchdog may well be pid 1, in its own PID namespace.) */
  if (argc > 1 && getppid() != (pid_t)atol(argv[1])) return 0;
  signal(SIGPIPE, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  sigfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sigfd < 0) die("signalfd");
  fcntl(0, F_SETFD, FD_CLOEXEC);
  fcntl(1, F_SETFD, FD_CLOEXEC);

  size_t cap = 1 << 16, have = 0;
  unsigned char *in = malloc(cap);
  struct pollfd *pfd = NULL;
  size_t pcap = 0;
  int stdin_open = 1;
  while (stdin_open) {
    size_t want = 2 + nkids * 3;
    if (want > pcap) { pcap = want * 2; pfd = realloc(pfd, pcap * sizeof *pfd); if (!pfd) die("realloc"); }
    flush();
    size_t n = 0;
    pfd[n++] = (struct pollfd){ 0, POLLIN, 0 };
    pfd[n++] = (struct pollfd){ sigfd, POLLIN, 0 };
    for (size_t i = 0; i < nkids; i++) {
      child_t *k = &kids[i];
      pfd[n++] = (struct pollfd){ k->out, POLLIN, 0 };
      pfd[n++] = (struct pollfd){ k->err, POLLIN, 0 };
      pfd[n++] = (struct pollfd){ k->in >= 0 && k->inlen > 0 ? k->in : -1, POLLOUT, 0 };
    }
    if (poll(pfd, n, -1) < 0) { if (errno == EINTR) continue; die("poll"); }
    /* children first: their slots in pfd match kids[] only until a frame adds or removes one */
    size_t nk = nkids;
    for (size_t i = 0; i < nk; i++) {
      child_t *k = &kids[i];
      if (k->out >= 0 && pfd[2 + i * 3].revents) drain(k, &k->out, F_STDOUT);
      if (k->err >= 0 && pfd[3 + i * 3].revents) drain(k, &k->err, F_STDERR);
      if (k->in >= 0 && pfd[4 + i * 3].revents) {
        if (pfd[4 + i * 3].revents & (POLLERR | POLLHUP)) { k->inlen = 0; close_fd(&k->in); }
        else flush_in(k);
      }
    }
    if (pfd[1].revents) {
      struct signalfd_siginfo si;
      while (read(sigfd, &si, sizeof si) > 0) {}
    }
    reap();
    finish();
    if (pfd[0].revents) {
      if (have == cap) { cap *= 2; in = realloc(in, cap); if (!in) die("realloc"); }
      ssize_t r = read(0, in + have, cap - have);
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (r <= 0) { stdin_open = 0; break; }
      have += (size_t)r;
      size_t off = 0;
      while (have - off >= 9) {
        uint32_t len = get32(in + off);
        if (have - off < 9 + (size_t)len) {
          if (9 + (size_t)len > cap) { /* grow for a large frame */
            memmove(in, in + off, have - off); have -= off; off = 0;
            while (cap < 9 + (size_t)len) cap *= 2;
            in = realloc(in, cap);
            if (!in) die("realloc");
          }
          break;
        }
        on_frame(in[off + 4], get32(in + off + 5), in + off + 9, len);
        off += 9 + (size_t)len;
      }
      if (off > 0) { memmove(in, in + off, have - off); have -= off; }
    }
  }
  /* the watchdog is gone: so are the children it asked for */
  flush();
  for (size_t i = 0; i < nkids; i++) if (!kids[i].reaped) kill(kids[i].pid, SIGKILL);
  return 0;
}
