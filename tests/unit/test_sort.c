/* test_sort.c: the LSD radix sort (emi_sort_items) held to its reference twin (qsort on the same total
 * order, emi_sort_items_ref): random keys with many duplicates (so stability matters: payloads are the
 * input positions, and equal keys must keep them in increasing order), several sizes around the block
 * size, keys that are constant in some digits (skipped passes), runs of equal k0 on both sides of
 * EMI_SORT_RUN_MAX (the one-thread kernel's insertion sort and its radix passes on k1), and 1, 2, 3
 * OpenMP threads: the results of emi_sort_items and emi_sort_items_serial must be bitwise equal to
 * the reference and to each other. */
#include <omp.h>
#include <string.h>

#include "emi_sort.h"
#include "emi_test.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t next_u64(void) /* splitmix64: a fixed, independent generator for test data */
{
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void fill(size_t n, emi_sort_item_t *it, int kind)
{
  for (size_t i = 0; i < n; i++) {
    switch (kind) {
    case 0: /* few persons, few days: many exact duplicates */
      it[i].k0 = next_u64() % 50, it[i].k1 = next_u64() % 7;
      break;
    case 1: /* hashed persons, (day, second, direction) as the linkage builds them */
      it[i].k0 = next_u64() % (n / 3 + 1) * 0x9e3779b97f4a7c15ull;
      it[i].k1 = ((uint64_t)(18000 + next_u64() % 1500) << 32) | ((next_u64() % 86401) << 1) | (next_u64() & 1);
      break;
    case 2: /* runs of equal k0 of about EMI_SORT_RUN_MAX items (Poisson), interleaved: both sides of the limit */
      it[i].k0 = next_u64() % (n / EMI_SORT_RUN_MAX + 1) * 0x9e3779b97f4a7c15ull;
      it[i].k1 = next_u64() % 5; /* many equal k1 within a run */
      break;
    default: /* full 128-bit random */
      it[i].k0 = next_u64(), it[i].k1 = next_u64();
    }
    it[i].v = (uint64_t)i; /* the input position: stability is visible */
  }
}

static void test_sizes(void)
{
  const size_t sizes[] = {0, 1, 2, 3, 17, 1000, EMI_SORT_BLOCK - 1, EMI_SORT_BLOCK, EMI_SORT_BLOCK + 1,
                          3 * EMI_SORT_BLOCK + 12345};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
    for (int kind = 0; kind < 4; kind++) {
      size_t n = sizes[s];
      emi_sort_item_t *in = malloc((n + 1) * sizeof *in), *ref = malloc((n + 1) * sizeof *ref);
      emi_sort_item_t *got = malloc((n + 1) * sizeof *got), *tmp = malloc((n + 1) * sizeof *tmp);
      size_t *hist = malloc(EMI_SORT_HIST_LEN(n) * sizeof *hist);
      fill(n, in, kind);
      memcpy(ref, in, n * sizeof *in);
      CHECK_OK(emi_sort_items_ref(n, ref, tmp));
      /* the reference itself: ordered, and stable (positions increase within equal keys) */
      for (size_t i = 1; i < n; i++) {
        int ok = ref[i - 1].k0 < ref[i].k0 || (ref[i - 1].k0 == ref[i].k0 && (ref[i - 1].k1 < ref[i].k1 ||
                 (ref[i - 1].k1 == ref[i].k1 && ref[i - 1].v < ref[i].v)));
        if (!ok) {
          CHECK_MSG(ok, "reference out of order at %zu (n %zu kind %d)", i, n, kind);
          break;
        }
      }
      for (int th = 1; th <= 3; th++) {
        omp_set_num_threads(th);
        memcpy(got, in, n * sizeof *in);
        CHECK_OK(emi_sort_items(n, got, tmp, hist));
        CHECK_MSG(n == 0 || !memcmp(got, ref, n * sizeof *got), "n %zu kind %d threads %d: differs from the reference",
                  n, kind, th);
      }
      /* the one-thread kernel: the same bytes */
      size_t shist[EMI_SORT_SERIAL_HIST_LEN];
      memcpy(got, in, n * sizeof *in);
      CHECK_OK(emi_sort_items_serial(n, got, tmp, shist));
      CHECK_MSG(n == 0 || !memcmp(got, ref, n * sizeof *got), "n %zu kind %d: emi_sort_items_serial differs from the "
                "reference", n, kind);
      free(in), free(ref), free(got), free(tmp), free(hist);
    }
  CHECK_ERR(emi_sort_items(2, NULL, NULL, NULL), EMI_ERR_ARG);
  CHECK_ERR(emi_sort_items_serial(2, NULL, NULL, NULL), EMI_ERR_ARG);
}

int main(void)
{
  test_sizes();
  return emi_test_report("test_sort");
}
