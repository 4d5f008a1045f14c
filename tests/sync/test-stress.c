/* SPDX-License-Identifier: MIT */
/*
 * Randomized stress of the channel cancellation races (seeded, bounded): the state
 * machine of machine.h driven by a seeded generator. VOW_SYNC_SEED picks the seed,
 * VOW_SYNC_ROUNDS the number of runs (each of 160 steps). See machine.h for the
 * invariants; any violation fails the test with the seed that found it.
 */
#include "st.h"

static uint64_t rng_state;
static uint64_t round_seed;

#define M_CHECK(cond)                                                                              \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail_msg("seed %#llx: invariant failed at %s:%d: %s",                                  \
                     (unsigned long long)round_seed, __FILE__, __LINE__, #cond);                   \
    } while (0)

#include "machine.h"

/* xorshift64*: a number in [0, n). */
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 33) % n;
}

static void stress(void **state)
{
    (void)state;
    const char *e = getenv("VOW_SYNC_SEED");
    uint64_t seed = e ? strtoull(e, NULL, 0) : 0x5eed5eedull;
    e = getenv("VOW_SYNC_ROUNDS");
    long rounds = e ? strtol(e, NULL, 0) : 300;
    if (getenv("VOW_UNDER_VALGRIND"))
        rounds = rounds / 10 > 0 ? rounds / 10 : 1;
    m_next = rnd;
    for (long r = 0; r < rounds; r++) {
        round_seed = seed + (uint64_t)r * 0x9e3779b97f4a7c15ull;
        rng_state = round_seed ? round_seed : 1;
        assert_int_equal(m_run(160), 0);
        assert_int_equal(tu_live_allocations(), 0);
    }
    print_message("# %ld runs of 160 steps from seed %#llx\n", rounds, (unsigned long long)seed);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
