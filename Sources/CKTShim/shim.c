#define _GNU_SOURCE
#include "CKTShim.h"
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <stdint.h>
#include <fcntl.h>
#include <sys/resource.h>

const uint32_t KT_EPOLLIN = EPOLLIN, KT_EPOLLOUT = EPOLLOUT, KT_EPOLLRDHUP = EPOLLRDHUP,
               KT_EPOLLHUP = EPOLLHUP, KT_EPOLLERR = EPOLLERR, KT_EPOLLET = EPOLLET;
const int KT_EPOLL_CTL_ADD = EPOLL_CTL_ADD, KT_EPOLL_CTL_MOD = EPOLL_CTL_MOD, KT_EPOLL_CTL_DEL = EPOLL_CTL_DEL;

int kt_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int kt_epoll_ctl(int epfd, int op, int fd, uint32_t events) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.fd = fd;
    return epoll_ctl(epfd, op, fd, &ev);
}

int kt_epoll_wait(int epfd, kt_epoll_ready *out, int max, int timeout_ms) {
    struct epoll_event evs[256];
    if (max > 256) max = 256;
    int n;
    do { n = epoll_wait(epfd, evs, max, timeout_ms); } while (n < 0 && errno == EINTR);
    for (int i = 0; i < n; i++) { out[i].fd = evs[i].data.fd; out[i].events = evs[i].events; }
    return n;
}

int kt_accept_nonblocking(int listen_fd) {
    return accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int kt_listen_tcp(const char *host, int port, int backlog) {
    struct sockaddr_in6 a6; struct sockaddr_in a4;
    int fam = AF_INET;
    memset(&a6, 0, sizeof a6); memset(&a4, 0, sizeof a4);
    if (inet_pton(AF_INET, host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET; a4.sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, host, &a6.sin6_addr) == 1) {
        fam = AF_INET6; a6.sin6_family = AF_INET6; a6.sin6_port = htons((uint16_t)port);
    } else {
        return -EINVAL;
    }
    int fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc = fam == AF_INET ? bind(fd, (struct sockaddr *)&a4, sizeof a4)
                            : bind(fd, (struct sockaddr *)&a6, sizeof a6);
    if (rc < 0 || listen(fd, backlog) < 0) { int e = errno; close(fd); return -e; }
    return fd;
}

int kt_local_port(int fd) {
    struct sockaddr_storage ss; socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return -errno;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

int kt_set_nodelay(int fd) {
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int kt_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }
int kt_eventfd_signal(int fd) { uint64_t one = 1; return (int)write(fd, &one, sizeof one); }
int kt_eventfd_drain(int fd) { uint64_t v; return (int)read(fd, &v, sizeof v); }

int kt_peer_is_loopback(int fd) {
    struct sockaddr_storage ss; socklen_t len = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0) return 0;
    if (ss.ss_family == AF_INET) {
        uint32_t a = ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr);
        return (a >> 24) == 127;
    }
    if (ss.ss_family == AF_INET6) {
        struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a)) return 1;
        if (IN6_IS_ADDR_V4MAPPED(a)) return a->s6_addr[12] == 127;
    }
    return 0;
}

uint32_t kt_peer_key(int fd) {
    struct sockaddr_storage ss; socklen_t len = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0) return 0;
    if (ss.ss_family == AF_INET) return ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr);
    if (ss.ss_family == AF_INET6) {
        struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            return ((uint32_t)a->s6_addr[12] << 24) | ((uint32_t)a->s6_addr[13] << 16) | ((uint32_t)a->s6_addr[14] << 8) | a->s6_addr[15];
        }
        // FNV-1a of the /64 prefix: one key per IPv6 subscriber network.
        uint32_t h = 2166136261u;
        for (int i = 0; i < 8; i++) { h ^= a->s6_addr[i]; h *= 16777619u; }
        return h;
    }
    return 0;
}

long kt_raise_nofile_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit want = rl;
        want.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
    }
    return rl.rlim_cur == RLIM_INFINITY ? 1L << 20 : (long)rl.rlim_cur;
}

int kt_open_reserve_fd(void) { return open("/dev/null", O_RDONLY | O_CLOEXEC); }
