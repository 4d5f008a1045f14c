/* SPDX-License-Identifier: MIT */
/*
 * Name resolution: getaddrinfo(3) on the pool's NET lane, whose cap keeps a stalled
 * name server from occupying every thread. Its EAI_* results become distinct
 * library codes, so "no such host" never reads as a bare EINVAL.
 */
#include "work_int.h"

#include <errno.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>

struct gai_job {
    vow_work_job j;        /* the common head */
    struct addrinfo hints; /* flags, family, socktype, protocol; the rest zero */
    bool has_hints;        /* hints were given */
    const char *host;      /* copy in this block, or NULL */
    const char *service;   /* copy in this block, or NULL */
};

int vow__gai_code(int r, int err)
{
    switch (r) {
    case 0:
        return 0;
    case EAI_ADDRFAMILY:
        return VOW_EAI_ADDRFAMILY;
    case EAI_AGAIN:
        return VOW_EAI_AGAIN;
    case EAI_BADFLAGS:
        return VOW_EAI_BADFLAGS;
    case EAI_FAMILY:
        return VOW_EAI_FAMILY;
    case EAI_MEMORY:
        return VOW_ENOMEM;
    case EAI_NODATA:
        return VOW_EAI_NODATA;
    case EAI_NONAME:
        return VOW_EAI_NONAME;
    case EAI_SERVICE:
        return VOW_EAI_SERVICE;
    case EAI_SOCKTYPE:
        return VOW_EAI_SOCKTYPE;
    case EAI_SYSTEM:
        return err > 0 ? -err : VOW_EAI_FAIL;
    default:
        return VOW_EAI_FAIL;
    }
}

static void gai_free(void *p)
{
    freeaddrinfo(p);
}

static void gai_run(vow_work_job *j)
{
    struct gai_job *g = (struct gai_job *)j;
    struct addrinfo *res = NULL;
    errno = 0;
    int r = getaddrinfo(g->host, g->service, g->has_hints ? &g->hints : NULL, &res);
    j->code = vow__gai_code(r, errno);
    j->val = j->code == 0 ? vow_val_ptr(res, gai_free) : vow_val_none();
}

static void gai_fini(vow_work_job *j)
{
    vow__job_drop_result(j);
    vow__free(j);
}

static const struct vow__job_ops gai_ops = { gai_run, gai_fini };

vow *vow_getaddrinfo(vow_loop *l, const char *host, const char *service,
                     const struct addrinfo *hints)
{
    if (!l)
        return NULL;
    if (!host && !service)
        return vow_rejected(l, VOW_EINVAL, vow_val_none());
    size_t hl = host ? strlen(host) + 1 : 0;
    size_t sl = service ? strlen(service) + 1 : 0;
    struct gai_job *g =
        (struct gai_job *)vow__job_new(sizeof(*g) + hl + sl, &gai_ops, VOW_WORK_NET);
    if (!g)
        return NULL;
    char *s = (char *)(g + 1);
    if (host) {
        memcpy(s, host, hl);
        g->host = s;
        s += hl;
    }
    if (service) {
        memcpy(s, service, sl);
        g->service = s;
    }
    if (hints) {
        g->has_hints = true;
        g->hints.ai_flags = hints->ai_flags;
        g->hints.ai_family = hints->ai_family;
        g->hints.ai_socktype = hints->ai_socktype;
        g->hints.ai_protocol = hints->ai_protocol;
    }
    return vow__job_submit(l, &g->j);
}
