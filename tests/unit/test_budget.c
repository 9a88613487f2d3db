/*
 * test_budget.c - the parse memory budget (budget.c): a lone holder goes
 * past it, a second holder waits until the first gives back, the oldest
 * holder never waits, nor does one within its allowance, and a waiter goes
 * on when the oldest ends.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "budget.h"

struct taker {
	struct budget *b;
	struct budget_hold *h;
	uint64_t n;
	int done;
	pthread_mutex_t lock;
};

static void *take_thread(void *arg)
{
	struct taker *t = arg;

	assert_int_equal(budget_take(t->b, &t->h, t->n), 0);
	pthread_mutex_lock(&t->lock);
	t->done = 1;
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static int is_done(struct taker *t)
{
	int d;

	pthread_mutex_lock(&t->lock);
	d = t->done;
	pthread_mutex_unlock(&t->lock);
	return d;
}

static void nap(void)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

static void test_budget(void **state)
{
	struct budget *b;
	struct budget_hold *a = NULL, *lone = NULL;
	struct taker t = { 0 };
	pthread_t th;
	uint64_t now, peak;

	(void)state;
	assert_int_equal(budget_new(100, &b), 0);
	/* NULL budget: nothing counted, nothing created */
	assert_int_equal(budget_take(NULL, &a, 1000), 0);
	assert_null(a);
	/* a lone holder goes past the budget */
	assert_int_equal(budget_take(b, &lone, 70), 0);
	assert_int_equal(budget_take(b, &lone, 70), 0);
	assert_int_equal(budget_held(lone), 140);
	budget_give(lone, 100);
	assert_int_equal(budget_held(lone), 40);
	budget_release(lone);
	budget_usage(b, &now, &peak);
	assert_int_equal(now, 0);
	assert_int_equal(peak, 140);

	/* a second holder waits until the first gives back */
	assert_int_equal(budget_take(b, &a, 80), 0);
	pthread_mutex_init(&t.lock, NULL);
	t.b = b;
	t.n = 50;
	assert_int_equal(pthread_create(&th, NULL, take_thread, &t), 0);
	nap();
	assert_false(is_done(&t));
	/* the oldest holder never waits, even with the other one waiting
	 * and over the budget */
	assert_int_equal(budget_take(b, &a, 60), 0);
	assert_false(is_done(&t));
	budget_give(a, 100);	/* 40 left: 40 + 50 fits */
	pthread_join(th, NULL);
	assert_true(is_done(&t));
	budget_release(a);
	budget_release(t.h);
	budget_usage(b, &now, &peak);
	assert_int_equal(now, 0);
	pthread_mutex_destroy(&t.lock);

	/* a small holder (within an eighth of the budget) never waits, even
	 * while the oldest is far over it */
	a = NULL;
	lone = NULL;
	assert_int_equal(budget_take(b, &a, 150), 0);
	assert_int_equal(budget_take(b, &lone, 12), 0);	/* no wait */
	budget_release(lone);
	budget_release(a);

	/* a waiter goes on when the oldest ends, even if that gives back
	 * nothing it held: it is the oldest then */
	a = NULL;
	assert_int_equal(budget_take(b, &a, 0), 0);
	memset(&t, 0, sizeof(t));
	pthread_mutex_init(&t.lock, NULL);
	t.b = b;
	t.n = 500;
	assert_int_equal(pthread_create(&th, NULL, take_thread, &t), 0);
	nap();
	assert_false(is_done(&t));
	budget_release(a);
	pthread_join(th, NULL);
	budget_release(t.h);
	pthread_mutex_destroy(&t.lock);
	budget_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_budget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
