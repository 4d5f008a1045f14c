/* SPDX-License-Identifier: MIT */
/*
 * vow_loop_post: the reactor's one thread-safe call. A mutex-guarded FIFO; the first
 * post after the loop took the queue writes the eventfd, later ones only link a node.
 */
#include "reactor.h"

int vow_loop_post(vow_loop *l, vow_post_fn fn, void *arg)
{
    vow__check(l && fn, VOW_EINVAL);
    struct vow__post_node *n = vow__malloc(sizeof(*n));
    vow__check(n, VOW_ENOMEM);
    n->next = NULL;
    n->fn = fn;
    n->arg = arg;
    pthread_mutex_lock(&l->post_mu);
    if (l->closing) {
        pthread_mutex_unlock(&l->post_mu);
        vow__free(n);
        return VOW_ECLOSED;
    }
    *l->post_tail = n;
    l->post_tail = &n->next;
    atomic_fetch_add_explicit(&l->posts_pending, 1, memory_order_relaxed);
    int wake = !l->post_woken;
    l->post_woken = 1;
    /* The write stays under the lock so close cannot free the eventfd under it. */
    if (wake)
        vow__loop_wake(l);
    pthread_mutex_unlock(&l->post_mu);
    return 0;
}

int vow__posts_ready(vow_loop *l)
{
    return atomic_load_explicit(&l->posts_pending, memory_order_relaxed) > 0;
}

/*
 * Runs what was queued when the phase began, FIFO. Each node counts as pending until
 * its callback returned, so the loop stays alive meanwhile. On vow_loop_stop the rest
 * goes back to the front of the queue and the eventfd is written again.
 */
void vow__posts_run(vow_loop *l)
{
    pthread_mutex_lock(&l->post_mu);
    struct vow__post_node *n = l->post_head;
    l->post_head = NULL;
    l->post_tail = &l->post_head;
    l->post_woken = 0;
    pthread_mutex_unlock(&l->post_mu);
    while (n) {
        struct vow__post_node *next = n->next;
        vow_post_fn fn = n->fn;
        void *arg = n->arg;
        vow__free(n);
        l->cb_depth++;
        fn(l, arg);
        l->cb_depth--;
        atomic_fetch_sub_explicit(&l->posts_pending, 1, memory_order_relaxed);
        vow__loop_after_cb(l);
        n = next;
        if (n && l->stop_flag) {
            pthread_mutex_lock(&l->post_mu);
            struct vow__post_node *last = n;
            while (last->next)
                last = last->next;
            last->next = l->post_head;
            if (!l->post_head)
                l->post_tail = &last->next;
            l->post_head = n;
            l->post_woken = 1;
            vow__loop_wake(l);
            pthread_mutex_unlock(&l->post_mu);
            break;
        }
    }
}
