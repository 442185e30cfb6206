/* emi_philox.h: Philox4x32-10 counter-based random numbers, and the logical streams built on it.
 *
 * The generator
 * -------------
 * Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3",
 * SC'11; the Random123 library) is a keyed bijection of 128-bit counters:
 *     out = philox(ctr[4], key[2]).
 * There is no state: a block of four 32-bit words depends only on (key, counter).  Three
 * implementations compute the same function:
 *   emi_philox4x32_rounds_ref  the paper, literally: a round function, a key bump, a loop of R rounds
 *   emi_philox4x32_10_ref      that loop with R = 10 (the reference twin)
 *   emi_philox4x32_10          unrolled, keys scheduled once (the one to call)
 *   emi_philox4x32_10_blocks   n blocks for consecutive values of counter word 3, written as a
 *                              branch-free loop the compiler can vectorise (no OpenMP, no threads)
 * tests/unit/test_philox.c pins all of them to Random123's published known-answer vectors.
 *
 * Streams
 * -------
 * A logical stream is named by WHAT it is for, never by who draws it (rank, thread):
 *     seed    (64 bits)  the run's seed                 -> key[0] = bits 0..31, key[1] = bits 32..63
 *     step    (32 bits)  time step / iteration / draw   -> ctr[0]
 *     entity  (48 bits)  person, record, cell, region   -> ctr[1] = bits 0..31,
 *                                                           ctr[2] bits 0..15 = entity bits 32..47
 *     purpose (16 bits)  which random quantity          -> ctr[2] bits 16..31
 *     block   (32 bits)  position inside the stream     -> ctr[3], starts at 0, one per 4 words
 * The map (purpose, entity, step, block) -> counter is injective and, for a fixed key, Philox is a
 * bijection of counters, so distinct streams never share a block.  The widths are the price of a
 * 128-bit counter that also holds a 32-bit block index (2^34 words, 2^33 uniforms per stream):
 * 16 bits of purpose is 65536 kinds of draw, 48 bits of entity is 2.8e14 entities.  Values outside
 * those ranges are rejected by emi_stream_init (EMI_ERR_DOMAIN) rather than silently folded onto
 * another stream.  Drawing more than 2^32 blocks from one stream wraps the block index and repeats
 * the stream: that is a precondition, not checked per draw.
 *
 * emi_stream_t is a small value type, not an opaque object: it lives on the stack of the loop that
 * draws, holds no resources (so there is no _create/_destroy), and caches only the current block.
 * Re-initialising a stream with the same four indices reproduces it exactly, in any order, on any
 * rank or thread.  Consecutive draws from one stream consume its words in order (the k-th 32-bit
 * word is word k % 4 of block k / 4).  Samplers that use rejection (emi_dist.h) consume a variable
 * number of words, so a draw's value depends on the draws made before it IN THE SAME STREAM: give
 * independent quantities their own (purpose, entity, step) rather than relying on positions.
 */
#ifndef EMI_PHILOX_H
#define EMI_PHILOX_H

#include <stddef.h>
#include <stdint.h>

#include "emi_err.h"

/* Philox4x32 constants (Random123 philox.h, PHILOX_M4x32_0/1 and PHILOX_W32_0/1):
 * the two multipliers, and the Weyl increments of the key schedule (golden ratio, sqrt(3) - 1). */
#define EMI_PHILOX_M0 UINT32_C(0xD2511F53)
#define EMI_PHILOX_M1 UINT32_C(0xCD9E8D57)
#define EMI_PHILOX_W0 UINT32_C(0x9E3779B9)
#define EMI_PHILOX_W1 UINT32_C(0xBB67AE85)

/* Philox4x32 with `rounds` rounds, written as in the paper (reference only: slow, any R >= 0). */
void emi_philox4x32_rounds_ref(unsigned rounds, const uint32_t ctr[4], const uint32_t key[2],
                               uint32_t out[4]);
/* Philox4x32-10, reference twin: emi_philox4x32_rounds_ref(10, ...). */
void emi_philox4x32_10_ref(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
/* Philox4x32-10, optimised.  out may alias ctr. */
void emi_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
/* Blocks i = 0..nblocks-1 for the counters (ctr[0], ctr[1], ctr[2], ctr[3] + i mod 2^32):
 * out[4*i .. 4*i+3] = philox(those counters, key).  out holds 4*nblocks words and must not
 * overlap ctr or key. */
void emi_philox4x32_10_blocks(size_t nblocks, const uint32_t ctr[4], const uint32_t key[2],
                              uint32_t *restrict out);

/* ------------------------------------------------------------------------------ streams */

#define EMI_STREAM_PURPOSE_MAX UINT32_C(0xFFFF)                /* purpose < 2^16 */
#define EMI_STREAM_ENTITY_MAX ((UINT64_C(1) << 48) - 1)       /* entity  < 2^48 */

typedef struct {
  uint32_t key[2]; /* the seed: key[0] = low 32 bits, key[1] = high 32 bits */
  uint32_t ctr[4]; /* step, entity lo, entity hi | purpose << 16, index of the NEXT block */
  uint32_t buf[4]; /* the current block */
  unsigned used;   /* words of buf already handed out (4: empty) */
} emi_stream_t;

/* Position s at the start of the stream (seed, purpose, entity, step).
 * EMI_ERR_DOMAIN if purpose > EMI_STREAM_PURPOSE_MAX or entity > EMI_STREAM_ENTITY_MAX
 * (s is then left unchanged). */
emi_err_t emi_stream_init(emi_stream_t *s, uint64_t seed, uint32_t purpose, uint64_t entity,
                          uint32_t step);

/* Internal: generate the next block into s->buf (called by the inline draws below). */
void emi_stream_refill_(emi_stream_t *s);

/* n consecutive 32-bit words: the same values as n calls of emi_stream_u32, in bulk. */
void emi_stream_fill_u32(emi_stream_t *restrict s, size_t n, uint32_t *restrict out);

/* Next 32-bit word of the stream. */
static inline uint32_t emi_stream_u32(emi_stream_t *s)
{
  if (s->used >= 4) emi_stream_refill_(s);
  return s->buf[s->used++];
}

/* Next 64 bits: the next word is the high half, the one after it the low half. */
static inline uint64_t emi_stream_u64(emi_stream_t *s)
{
  uint64_t hi = emi_stream_u32(s);
  uint64_t lo = emi_stream_u32(s);
  return (hi << 32) | lo;
}

/* Uniform on the OPEN interval (0, 1), 53-bit resolution: k * 2^-53 with k the top 53 bits of
 * emi_stream_u64, and k = 0 rejected (probability 2^-53; the next 64 bits are used instead).
 * So 2^-53 <= u <= 1 - 2^-53: log(u) and log(1 - u) are finite, 1 - u is exact for u >= 1/2, and
 * the grid is symmetric (u and 1 - u are equally likely). */
static inline double emi_uniform(emi_stream_t *s)
{
  uint64_t k;
  do k = emi_stream_u64(s) >> 11;
  while (k == 0);
  return (double)k * 0x1p-53;
}

/* Uniform on the half-open interval [0, 1): k * 2^-53, k the top 53 bits of emi_stream_u64. */
static inline double emi_uniform_01(emi_stream_t *s)
{
  return (double)(emi_stream_u64(s) >> 11) * 0x1p-53;
}

#endif /* EMI_PHILOX_H */
