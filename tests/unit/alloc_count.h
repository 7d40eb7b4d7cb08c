/*
 * Counting the heap allocations made between alloc_count_start() and
 * alloc_count_stop(), for the tests that prove a hot path does not allocate (the
 * trigger filter and template).  Under ASan the sanitizer's malloc/free hooks count;
 * otherwise this executable replaces malloc, calloc, realloc and free (glibc allows
 * it) with thin wrappers over glibc's own, so every allocation in the process, jansson's
 * included, is seen.  Include it in one test file per executable.
 */
#ifndef SL_TEST_ALLOC_COUNT_H
#define SL_TEST_ALLOC_COUNT_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define SL_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SL_TEST_ASAN 1
#endif
#endif

static volatile int alloc_counting;
static volatile long alloc_allocs, alloc_frees;

#ifdef SL_TEST_ASAN
/* From the sanitizer runtime (sanitizer/allocator_interface.h, not always installed). */
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *,
                                                                  size_t),
                                              void (*free_hook)(const volatile void *));

static void alloc_hook(const volatile void *ptr, size_t size)
{
        (void)ptr;
        (void)size;
        if (alloc_counting)
                alloc_allocs++;
}

static void free_hook(const volatile void *ptr)
{
        (void)ptr;
        if (alloc_counting)
                alloc_frees++;
}

static void alloc_count_install(void)
{
        static int installed;
        if (!installed)
                installed =
                    __sanitizer_install_malloc_and_free_hooks(alloc_hook, free_hook);
}
#else
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *ptr, size_t size);
void __libc_free(void *ptr);

void *malloc(size_t size)
{
        if (alloc_counting)
                alloc_allocs++;
        return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
        if (alloc_counting)
                alloc_allocs++;
        return __libc_calloc(n, size);
}

void *realloc(void *ptr, size_t size)
{
        /* A realloc counts as an allocation, and as a free when it gives a block back. */
        if (alloc_counting && size > 0)
                alloc_allocs++;
        if (alloc_counting && ptr)
                alloc_frees++;
        return __libc_realloc(ptr, size);
}

void free(void *ptr)
{
        if (alloc_counting && ptr)
                alloc_frees++;
        __libc_free(ptr);
}

static void alloc_count_install(void)
{
}
#endif

static void alloc_count_start(void)
{
        alloc_count_install();
        alloc_allocs = 0;
        alloc_frees = 0;
        alloc_counting = 1;
}

/* Stop counting; returns the allocations seen, *net (may be NULL) = allocations minus
 * frees (0 when everything allocated was freed). */
static long alloc_count_stop(long *net)
{
        alloc_counting = 0;
        if (net)
                *net = alloc_allocs - alloc_frees;
        return alloc_allocs;
}

#endif
