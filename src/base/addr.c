/* SPDX-License-Identifier: MIT */
/* Numeric socket addresses, shared by the tiers that bind or connect (base.h). */
#include "base.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

int vow__inet_parse(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    vow__check(host && port >= 0 && port <= 65535, VOW_EINVAL);
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof(*a4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a6);
        return 0;
    }
    return VOW_EINVAL;
}
