/* SPDX-License-Identifier: MIT */
/*
 * Name resolution and connecting by name, with real lookups of localhost and of a
 * name that cannot exist (RES_OPTIONS in the test's environment bounds the
 * resolver's waiting; no test needs a network beyond loopback): results owned by
 * the value, EAI_* errors as distinct codes, withdrawal of a queued lookup,
 * vow_tcp_connect("localhost") to a listener on 127.0.0.1, and the Happy Eyeballs
 * race over a hand-made address list (an address whose listener's backlog is full
 * never answers, so the next one starts 250 ms later on the loop clock and wins).
 */
#include "work-test.h"

#include "io_int.h"
#include "work_int.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define THREADS 4

static int is_name_error(int code)
{
    /* NXDOMAIN from a name server, or no name server reachable. */
    return code == VOW_EAI_NONAME || code == VOW_EAI_AGAIN;
}

static void test_localhost(void **state)
{
    (void)state;
    vow_loop *l = wt_loop_new();
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    vow *p = vow_getaddrinfo(l, "localhost", "80", &hints);
    wt_wait(l, p);
    assert_int_equal(vow_state(p), VOW_FULFILLED);
    const struct addrinfo *ai = vow_value(p)->ptr;
    int found = 0;
    for (; ai; ai = ai->ai_next) {
        assert_int_equal(ai->ai_family, AF_INET);
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ai->ai_addr;
        assert_int_equal(ntohs(sin->sin_port), 80);
        found |= sin->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
    }
    assert_true(found);
    vow_unref(p); /* freeaddrinfo, through the value's drop */

    /* No hints, numeric host, no service. */
    p = vow_getaddrinfo(l, "127.0.0.1", NULL, NULL);
    wt_wait(l, p);
    assert_int_equal(vow_state(p), VOW_FULFILLED);
    vow_unref(p);
    wt_finish(l);
}

static void test_errors(void **state)
{
    (void)state;
    vow_loop *l = wt_loop_new();
    assert_null(vow_getaddrinfo(NULL, "localhost", NULL, NULL));
    assert_int_equal(wt_code(l, vow_getaddrinfo(l, NULL, NULL, NULL)), VOW_EINVAL);
    int c = wt_code(l, vow_getaddrinfo(l, "nonexistent.invalid", NULL, NULL));
    assert_true(is_name_error(c));
    assert_string_equal(vow_strerror(VOW_EAI_NONAME), "no such host or service");
    assert_string_equal(vow_err_name(VOW_EAI_NONAME), "VOW_EAI_NONAME");
    assert_string_equal(vow_err_name(VOW_EAI_AGAIN), "VOW_EAI_AGAIN");

    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = 12345;
    assert_int_equal(wt_code(l, vow_getaddrinfo(l, "127.0.0.1", NULL, &hints)), VOW_EAI_FAMILY);
    memset(&hints, 0, sizeof(hints));
    hints.ai_flags = 0x7fff0000;
    assert_int_equal(wt_code(l, vow_getaddrinfo(l, "127.0.0.1", NULL, &hints)),
                     VOW_EAI_BADFLAGS);
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = 12345;
    assert_int_equal(wt_code(l, vow_getaddrinfo(l, "127.0.0.1", NULL, &hints)),
                     VOW_EAI_SOCKTYPE);
    memset(&hints, 0, sizeof(hints));
    hints.ai_flags = AI_NUMERICHOST;
    assert_int_equal(wt_code(l, vow_getaddrinfo(l, "localhost", NULL, &hints)),
                     VOW_EAI_NONAME);
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    assert_int_equal(wt_code(l, vow_getaddrinfo(l, "127.0.0.1", "notaport", &hints)),
                     VOW_EAI_NONAME);
    /* Every EAI code has its own name and message. */
    const int codes[] = { VOW_EAI_ADDRFAMILY, VOW_EAI_AGAIN,  VOW_EAI_BADFLAGS,
                          VOW_EAI_FAIL,       VOW_EAI_FAMILY, VOW_EAI_NODATA,
                          VOW_EAI_NONAME,     VOW_EAI_SERVICE, VOW_EAI_SOCKTYPE };
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        assert_string_not_equal(vow_strerror(codes[i]), "unknown error");
        assert_true(strncmp(vow_err_name(codes[i]), "VOW_EAI_", 8) == 0);
    }
    wt_finish(l);
}

/* Every getaddrinfo result maps to its own code (white-box: most cannot be caused
 * on demand). */
static void test_code_map(void **state)
{
    (void)state;
    const int eai[] = { EAI_ADDRFAMILY, EAI_AGAIN,  EAI_BADFLAGS, EAI_FAIL,    EAI_FAMILY,
                        EAI_NODATA,     EAI_NONAME, EAI_SERVICE,  EAI_SOCKTYPE };
    const int ours[] = { VOW_EAI_ADDRFAMILY, VOW_EAI_AGAIN,   VOW_EAI_BADFLAGS,
                        VOW_EAI_FAIL,       VOW_EAI_FAMILY,  VOW_EAI_NODATA,
                        VOW_EAI_NONAME,     VOW_EAI_SERVICE, VOW_EAI_SOCKTYPE };
    for (size_t i = 0; i < sizeof(eai) / sizeof(eai[0]); i++)
        assert_int_equal(vow__gai_code(eai[i], 0), ours[i]);
    assert_int_equal(vow__gai_code(0, 0), 0);
    assert_int_equal(vow__gai_code(EAI_MEMORY, 0), VOW_ENOMEM);
    assert_int_equal(vow__gai_code(EAI_SYSTEM, EMFILE), -EMFILE);
    assert_int_equal(vow__gai_code(EAI_SYSTEM, 0), VOW_EAI_FAIL);
    assert_int_equal(vow__gai_code(-12345, 0), VOW_EAI_FAIL);
}

/* A lookup queued behind two stuck NET jobs is withdrawn by cancel or drop. */
static void test_withdraw(void **state)
{
    (void)state;
    vow_loop *l = wt_loop_new();
    struct gate g;
    gate_init(&g);
    vow *net[THREADS / 2];
    for (int i = 0; i < THREADS / 2; i++)
        net[i] = vow_work(l, VOW_WORK_NET, gate_job, &g, NULL);
    gate_wait_started(&g, THREADS / 2);
    vow *a = vow_getaddrinfo(l, "localhost", NULL, NULL);
    vow *b = vow_getaddrinfo(l, "localhost", NULL, NULL);
    vow *c = vow_tcp_connect(l, "localhost", 9);
    assert_int_equal(vow_cancel(a), 0);
    vow_unref(b);
    assert_int_equal(vow_cancel(c), 0);
    assert_int_equal(vow_code(a), VOW_ECANCELED);
    assert_int_equal(vow_code(c), VOW_ECANCELED);
    /* A lookup still runs beside them: file and CPU jobs are not the NET lane. */
    assert_int_equal(wt_code(l, vow_fs_stat(l, "/")), 0);
    gate_open(&g);
    for (int i = 0; i < THREADS / 2; i++)
        assert_int_equal(wt_num(l, net[i]), 42);
    vow_unref(a);
    vow_unref(c);
    wt_finish(l);
    gate_destroy(&g);
}

/* vow_tcp_connect by name reaches a listener on 127.0.0.1 through "localhost". */
static void test_connect_by_name(void **state)
{
    (void)state;
    long before = tu_open_fds();
    vow_loop *l = wt_loop_new();
    int lfd = vow_tcp_listen("127.0.0.1", 0, 8);
    assert_true(lfd >= 0);
    int port = vow_sock_port(lfd);
    vow *acc = vow_accept(l, lfd);
    int c = (int)wt_num(l, vow_tcp_connect(l, "localhost", port));
    int s = (int)wt_num(l, acc);
    assert_int_equal(wt_num(l, vow_write_all(l, c, "hi", 2)), 2);
    char buf[2];
    assert_int_equal(wt_num(l, vow_read_exact(l, s, buf, 2)), 2);
    assert_memory_equal(buf, "hi", 2);
    close(c);
    close(s);

    /* Nothing listens on a port that was just free: the last error is reported. */
    int gone = vow_tcp_listen("127.0.0.1", 0, 1);
    int gport = vow_sock_port(gone);
    close(gone);
    assert_int_equal(wt_code(l, vow_tcp_connect(l, "localhost", gport)), -ECONNREFUSED);
    assert_true(is_name_error(wt_code(l, vow_tcp_connect(l, "nonexistent.invalid", port))));

    /* Seams: under vow_timeout, in vow_race against a delay. */
    acc = vow_accept(l, lfd);
    c = (int)wt_num(l, vow_timeout(vow_tcp_connect(l, "localhost", port), 60000));
    close(c);
    close((int)wt_num(l, acc));
    acc = vow_accept(l, lfd);
    vow *in[2] = { vow_delay(l, 60000, vow_val_num(-1)), vow_tcp_connect(l, "localhost", port) };
    c = (int)wt_num(l, vow_race(l, in, 2));
    assert_true(c >= 0);
    close(c);
    close((int)wt_num(l, acc));
    close(lfd);
    wt_finish(l);
    assert_int_equal(tu_open_fds(), before);
}

/* ------------------------------------------------------- Happy Eyeballs */

/* An address list of the given ports on 127.0.0.1, in order. */
struct list {
    struct addrinfo ai[4];       /* the entries */
    struct sockaddr_in sin[4];   /* their addresses */
};

static const struct addrinfo *make_list(struct list *x, const int *ports, int n)
{
    memset(x, 0, sizeof(*x));
    for (int i = 0; i < n; i++) {
        x->sin[i].sin_family = AF_INET;
        x->sin[i].sin_port = htons((uint16_t)ports[i]);
        x->sin[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        x->ai[i].ai_family = AF_INET;
        x->ai[i].ai_socktype = SOCK_STREAM;
        x->ai[i].ai_addrlen = sizeof(x->sin[i]);
        x->ai[i].ai_addr = (struct sockaddr *)&x->sin[i];
        x->ai[i].ai_next = i + 1 < n ? &x->ai[i + 1] : NULL;
    }
    return x->ai;
}

/* A listener whose one-slot backlog is taken: connects to it get no answer. */
static int black_hole(int *ret_filler)
{
    int lfd = vow_tcp_listen("127.0.0.1", 0, 0);
    assert_true(lfd >= 0);
    /* listen(0) would mean SOMAXCONN through vow_tcp_listen: set it directly. */
    assert_int_equal(listen(lfd, 0), 0);
    int f = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_port = htons((uint16_t)vow_sock_port(lfd)),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(connect(f, (struct sockaddr *)&sin, sizeof(sin)), 0);
    *ret_filler = f;
    return lfd;
}

static void test_eyeballs(void **state)
{
    (void)state;
    long before = tu_open_fds();
    vow_loop *l = wt_loop_new();
    int filler;
    int hole = black_hole(&filler);
    int good = vow_tcp_listen("127.0.0.1", 0, 8);
    int ports[2] = { vow_sock_port(hole), vow_sock_port(good) };
    struct list x;
    vow *acc = vow_accept(l, good);
    uint64_t t0 = vow_loop_now(l);
    vow *p = vow__connect_addrinfo(l, make_list(&x, ports, 2));
    int c = (int)wt_num(l, p);
    /* The second attempt started after the delay, not before. */
    assert_true(vow_loop_now(l) >= t0 + 250);
    int s = (int)wt_num(l, acc);
    struct sockaddr_in peer, local;
    socklen_t pl = sizeof(peer), ll = sizeof(local);
    assert_int_equal(getpeername(c, (struct sockaddr *)&peer, &pl), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&local, &ll), 0);
    assert_int_equal(ntohs(peer.sin_port), ports[1]);
    close(c);
    close(s);

    /* Cancelled while the only attempt hangs: its socket is closed. */
    p = vow__connect_addrinfo(l, make_list(&x, ports, 1));
    assert_int_equal(vow_loop_run(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(vow_cancel(p), 0);
    vow_unref(p);
    /* Dropped while two hang (the timer started the second): both closed. */
    ports[1] = ports[0];
    p = vow__connect_addrinfo(l, make_list(&x, ports, 2));
    vow *d = vow_delay(l, 300, vow_val_none());
    wt_wait(l, d);
    vow_unref(d);
    vow_unref(p);

    /* All refused: the first failure starts the next at once; the last error wins. */
    int gone = vow_tcp_listen("127.0.0.1", 0, 1);
    int gports[3] = { vow_sock_port(gone), vow_sock_port(gone), vow_sock_port(gone) };
    close(gone);
    assert_int_equal(wt_code(l, vow__connect_addrinfo(l, make_list(&x, gports, 3))),
                     -ECONNREFUSED);
    /* No usable address. */
    make_list(&x, gports, 1);
    x.ai[0].ai_family = AF_UNIX;
    assert_int_equal(wt_code(l, vow__connect_addrinfo(l, x.ai)), VOW_EAI_ADDRFAMILY);

    close(filler);
    close(hole);
    close(good);
    wt_finish(l);
    assert_int_equal(tu_open_fds(), before);
}

int main(void)
{
    tu_install_allocator();
    assert_int_equal(vow_work_configure(THREADS, 64), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_localhost),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_code_map),
        cmocka_unit_test(test_withdraw),
        cmocka_unit_test(test_connect_by_name),
        cmocka_unit_test(test_eyeballs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
