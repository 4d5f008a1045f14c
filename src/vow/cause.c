/* SPDX-License-Identifier: MIT */
/*
 * Causal rejection reports (debug builds): when a vow is settled from another (a
 * forward: a pass-through, an adoption, a combinator or timeout taking its input's
 * outcome; or a handler that failed), it copies the other's creation site and that
 * vow's own trail, nearest first, so an unhandled rejection can print the chain that
 * led to it, the way JavaScript engines print async stack traces. A trail keeps the
 * VOW__TRAIL - 1 nearest causes and the origin (the first vow of the chain), and
 * counts what it left out. Copied, never referenced: a trail keeps nothing alive.
 * Other builds compile none of this (vow__dbg_cause is an empty inline there).
 */
#include "vow_int.h"

#include <string.h>

#ifdef VOW_DEBUG

void vow__dbg_cause(vow *p, const vow *cause)
{
    if (!cause || cause == p)
        return;
    struct vow__site t[VOW__TRAIL];
    uint32_t n = 0;
    t[n++] = (struct vow__site){cause->site_file, cause->site_line};
    for (uint32_t i = 0; i < cause->dbg_ntrail && n < VOW__TRAIL; i++)
        t[n++] = cause->dbg_trail[i];
    uint32_t depth = 1 + cause->dbg_depth;
    /* Full: the last slot keeps the origin. */
    if (depth > n && cause->dbg_ntrail > 0)
        t[VOW__TRAIL - 1] = cause->dbg_trail[cause->dbg_ntrail - 1];
    memcpy(p->dbg_trail, t, n * sizeof(t[0]));
    p->dbg_ntrail = n;
    p->dbg_depth = depth;
}

static void site_print(FILE *out, const struct vow__site *s)
{
    if (s->file)
        fprintf(out, "%s:%d\n", s->file, s->line);
    else
        fputs("an untracked site (define VOW_TRACK_SITES)\n", out);
}

void vow__dbg_trail_print(const vow *p, FILE *out)
{
    fputs("libvow:   rejected: the vow created at ", out);
    site_print(out, &(struct vow__site){p->site_file, p->site_line});
    for (uint32_t i = 0; i < p->dbg_ntrail; i++) {
        if (i == p->dbg_ntrail - 1 && p->dbg_depth > p->dbg_ntrail)
            fprintf(out, "libvow:   ... %u more\n", p->dbg_depth - p->dbg_ntrail);
        fprintf(out, "libvow:   %s the vow created at ",
                i == p->dbg_ntrail - 1 ? "origin:" : "from:  ");
        site_print(out, &p->dbg_trail[i]);
    }
}

#endif
