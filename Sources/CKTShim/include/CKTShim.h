#ifndef CKTSHIM_H
#define CKTSHIM_H
#include <stdint.h>
#include <sys/types.h>

// struct epoll_event is __attribute__((packed)) on x86_64, which Swift imports poorly;
// these wrappers take plain fields instead.
typedef struct { int fd; uint32_t events; } kt_epoll_ready;

int kt_epoll_create(void);
int kt_epoll_ctl(int epfd, int op, int fd, uint32_t events);
int kt_epoll_wait(int epfd, kt_epoll_ready *out, int max, int timeout_ms);

// accept4 with SOCK_NONBLOCK|SOCK_CLOEXEC; returns -1 with errno on failure.
int kt_accept_nonblocking(int listen_fd);
// A non-blocking, close-on-exec, SO_REUSEADDR TCP listener on host:port (IPv4 or IPv6 literal).
// Returns fd or -errno. port 0 picks a free one; read it with kt_local_port.
int kt_listen_tcp(const char *host, int port, int backlog);
int kt_local_port(int fd);
int kt_set_nodelay(int fd);
int kt_peer_is_loopback(int fd);
// A key per peer for per-peer connection caps: the IPv4 address, or a hash of an IPv6 /64.
uint32_t kt_peer_key(int fd);
// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the soft limit now in force.
long kt_raise_nofile_limit(void);
// A spare descriptor (/dev/null) kept for accepting-and-refusing at the descriptor limit.
int kt_open_reserve_fd(void);
int kt_eventfd(void);
int kt_eventfd_signal(int fd);
int kt_eventfd_drain(int fd);

// Constants that are macros or enums Swift may not see uniformly.
extern const uint32_t KT_EPOLLIN, KT_EPOLLOUT, KT_EPOLLRDHUP, KT_EPOLLHUP, KT_EPOLLERR, KT_EPOLLET;
extern const int KT_EPOLL_CTL_ADD, KT_EPOLL_CTL_MOD, KT_EPOLL_CTL_DEL;

#endif
