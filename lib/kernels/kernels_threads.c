/* kernels_threads.c: the worker pool behind mae_parallel_for.
 *
 * Why not OpenMP: Debian's OpenBLAS is the pthread build, and an OpenMP runtime's idle threads
 * spin (GOMP_SPINCOUNT, 300,000 rounds) on the very cores OpenBLAS's threads then need. These
 * workers wait awake a bounded 50 us for the next job, then sleep on a condition variable; tasks
 * are handed out through one atomic counter. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cblas.h>

#include "mae/kernels/kernels.h"
#include "mae/util/util.h"

#define MAX_THREADS 64

static struct {
	int n;                        /* threads including the caller; 0 = not initialised */
	pthread_t th[MAX_THREADS];
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	atomic_ulong gen;             /* job generation: workers start when it changes */
	atomic_int running;           /* workers still inside the current job */
	atomic_int next;              /* next task index */
	int ntasks;
	void (*fn)(void *, int, int);
	void *ctx;
	double spin;                  /* seconds a thread waits awake before it sleeps */
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER, .go = PTHREAD_COND_INITIALIZER,
           .done = PTHREAD_COND_INITIALIZER };

/* A training step is some hundreds of jobs of tens to hundreds of microseconds, with the
 * caller's serial work in between. Waking a sleeping worker for each (futex, scheduler) cost
 * about 7% of a small-28 or tiny-28 step. So a thread that has finished waits awake a short
 * while (pool.spin, 50 us) for the next job or for its peers, and only then sleeps: the wait is
 * bounded, so a stage idle between batches (waiting for a gradient, say) sleeps and takes no
 * core from anyone. */
#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() ((void)0)
#endif

static int job_started(unsigned long seen)
{
	return atomic_load_explicit(&pool.gen, memory_order_acquire) != seen;
}

static int job_finished(unsigned long unused)
{
	(void)unused;
	return atomic_load_explicit(&pool.running, memory_order_acquire) == 0;
}

/* Wait awake, for at most pool.spin seconds, until ready(arg): 1 if it came, 0 if not. */
static int wait_awake(int (*ready)(unsigned long), unsigned long arg)
{
	double t0 = 0;
	for (int i = 0;; i++) {
		if (ready(arg))
			return 1;
		if ((i & 63) == 63) {
			double t = mae_now();
			if (t0 == 0)
				t0 = t;
			else if (t - t0 > pool.spin)
				return 0;
		}
		cpu_relax();
	}
}

/* the tid of the task this thread is running, -1 outside tasks: nested jobs run inline */
static _Thread_local int task_tid = -1;

static void run_tasks(int tid)
{
	task_tid = tid;
	for (;;) {
		int i = atomic_fetch_add(&pool.next, 1);
		if (i >= pool.ntasks)
			break;
		pool.fn(pool.ctx, i, tid);
	}
	task_tid = -1;
}

int mae_in_task(void)
{
	return task_tid >= 0;
}

static void *worker(void *arg)
{
	int tid = (int)(intptr_t)arg;
	unsigned long seen = 0;
	for (;;) {
		if (!wait_awake(job_started, seen)) {
			pthread_mutex_lock(&pool.mu);
			while (atomic_load(&pool.gen) == seen)
				pthread_cond_wait(&pool.go, &pool.mu);
			pthread_mutex_unlock(&pool.mu);
		}
		seen = atomic_load(&pool.gen);
		run_tasks(tid);
		if (atomic_fetch_sub(&pool.running, 1) == 1) {
			pthread_mutex_lock(&pool.mu);
			pthread_cond_signal(&pool.done);
			pthread_mutex_unlock(&pool.mu);
		}
	}
	return NULL;
}

void mae_threads_init(int n)
{
	if (pool.n)
		return;
	if (n <= 0) {
		const char *e = getenv("MAE_THREADS");
		n = e ? atoi(e) : (int)sysconf(_SC_NPROCESSORS_ONLN);
	}
	if (n < 1)
		n = 1;
	if (n > MAX_THREADS)
		n = MAX_THREADS;
	const char *sp = getenv("MAE_SPIN_US");
	pool.spin = (sp ? atof(sp) : 50) * 1e-6;
	for (int t = 1; t < n; t++) {
		/* workers must not keep the process alive nor need joining: they sleep forever */
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&pool.th[t], &a, worker, (void *)(intptr_t)t) != 0)
			mae_die(MAE_EXIT_DATA, "cannot start worker thread:");
		pthread_attr_destroy(&a);
	}
	pool.n = n;
	/* OpenBLAS runs single-threaded inside our tasks; its own pthread workers would otherwise
	 * busy-wait between calls on the cores our pool needs (see kernels.c, mae_linear_forward) */
	openblas_set_num_threads(1);
}

int mae_threads(void)
{
	if (!pool.n)
		mae_threads_init(0);
	return pool.n;
}

void mae_parallel_for(int n, void (*fn)(void *ctx, int i, int tid), void *ctx)
{
	if (!pool.n)
		mae_threads_init(0);
	if (pool.n == 1 || n <= 1 || task_tid >= 0) {
		int tid = task_tid >= 0 ? task_tid : 0;
		for (int i = 0; i < n; i++)
			fn(ctx, i, tid);
		return;
	}
	pool.fn = fn;
	pool.ctx = ctx;
	pool.ntasks = n;
	atomic_store(&pool.next, 0);
	atomic_store(&pool.running, pool.n - 1);
	/* publish the job, then wake any worker that went to sleep (it checks gen under mu) */
	atomic_fetch_add_explicit(&pool.gen, 1, memory_order_release);
	pthread_mutex_lock(&pool.mu);
	pthread_cond_broadcast(&pool.go);
	pthread_mutex_unlock(&pool.mu);
	run_tasks(0);
	if (!wait_awake(job_finished, 0)) {
		pthread_mutex_lock(&pool.mu);
		while (atomic_load(&pool.running) > 0)
			pthread_cond_wait(&pool.done, &pool.mu);
		pthread_mutex_unlock(&pool.mu);
	}
}
