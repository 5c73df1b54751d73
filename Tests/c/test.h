/* test.h - a minimal harness for the C consumer tests (ctest runs each test_*.c as a program).
 *
 *   TEST(name) { CHECK(x == 1); CHECK_EQ_INT(a, b); }
 *   int main(void) { RUN(name); return test_summary(); }
 *
 * A failed CHECK prints file:line and the expression and marks the test failed; the test
 * body goes on so one run shows every failure. Tests are bounded in time by ctest's TIMEOUT
 * and by the alarm() that RUN arms (a stuck event loop fails instead of hanging). */
#ifndef GALE_TEST_H
#define GALE_TEST_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int test_failures_;
static int test_count_;
static const char *test_current_ = "";

#define TEST(name) static void test_##name(void)

#define CHECK(expr)                                                                     \
    do {                                                                                \
        if (!(expr)) {                                                                  \
            fprintf(stderr, "%s:%d: %s: CHECK(%s) failed\n", __FILE__, __LINE__,          \
                    test_current_, #expr);                                              \
            test_failures_++;                                                           \
        }                                                                               \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                              \
    do {                                                                                \
        long long a_ = (long long)(a), b_ = (long long)(b);                             \
        if (a_ != b_) {                                                                 \
            fprintf(stderr, "%s:%d: %s: %s == %s failed: %lld != %lld\n", __FILE__,     \
                    __LINE__, test_current_, #a, #b, a_, b_);                           \
            test_failures_++;                                                           \
        }                                                                               \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                              \
    do {                                                                                \
        const char *a_ = (a), *b_ = (b);                                                \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                        \
            fprintf(stderr, "%s:%d: %s: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, \
                    __LINE__, test_current_, #a, #b, a_ ? a_ : "(null)",                \
                    b_ ? b_ : "(null)");                                                \
            test_failures_++;                                                           \
        }                                                                               \
    } while (0)

/* Compare a (pointer, length) slice with a C string. */
#define CHECK_SLICE(ptr, len, str)                                                      \
    do {                                                                                \
        const char *s_ = (str);                                                         \
        size_t n_ = strlen(s_);                                                         \
        if ((size_t)(len) != n_ || ((len) && memcmp((ptr), s_, n_) != 0)) {             \
            fprintf(stderr, "%s:%d: %s: slice \"%.*s\" != \"%s\"\n", __FILE__,          \
                    __LINE__, test_current_, (int)(len), (const char *)(ptr), s_);      \
            test_failures_++;                                                           \
        }                                                                               \
    } while (0)

static void test_alarm_(int sig) {
    (void)sig;
    static const char msg[] = "test timed out (alarm)\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(124);
}

/* Seconds each test may take; valgrind runs get more. */
static unsigned test_budget_(void) {
    return getenv("GALE_UNDER_VALGRIND") ? 240u : 30u;
}

#define RUN(name)                                                                       \
    do {                                                                                \
        int before_ = test_failures_;                                                   \
        test_current_ = #name;                                                          \
        signal(SIGALRM, test_alarm_);                                                   \
        alarm(test_budget_());                                                          \
        test_##name();                                                                  \
        alarm(0);                                                                       \
        test_count_++;                                                                  \
        fprintf(stderr, "%s %s\n", test_failures_ == before_ ? "ok  " : "FAIL", #name); \
    } while (0)

static int test_summary(void) {
    fprintf(stderr, "%d tests, %d failed checks\n", test_count_, test_failures_);
    return test_failures_ ? 1 : 0;
}

#endif /* GALE_TEST_H */
