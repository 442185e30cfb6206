/* emi_philox.c: Philox4x32-10 (reference and optimised) and the stream built on it. */
#include "emi_philox.h"

#include <inttypes.h>

/* ------------------------------------------------------------------------------ reference
 * Salmon et al. (2011), section 3.3, in Random123's word order (philox.h, _philox4x32round):
 *   one round:  hi0:lo0 = M0 * ctr[0],  hi1:lo1 = M1 * ctr[2]     (32x32 -> 64-bit products)
 *               ctr' = (hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0)
 *   key bump:   key[0] += W0, key[1] += W1  (mod 2^32), between rounds
 *   R rounds:   round, then (bump, round) R - 1 times.                                   */

static void mulhilo32_ref(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo)
{
  uint64_t product = (uint64_t)a * (uint64_t)b;
  *hi = (uint32_t)(product >> 32);
  *lo = (uint32_t)product;
}

static void philox4x32_round_ref(uint32_t ctr[4], const uint32_t key[2])
{
  uint32_t hi0, lo0, hi1, lo1;
  mulhilo32_ref(EMI_PHILOX_M0, ctr[0], &hi0, &lo0);
  mulhilo32_ref(EMI_PHILOX_M1, ctr[2], &hi1, &lo1);
  uint32_t next[4] = {hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0};
  for (int i = 0; i < 4; i++) ctr[i] = next[i];
}

static void philox4x32_bumpkey_ref(uint32_t key[2])
{
  key[0] += EMI_PHILOX_W0;
  key[1] += EMI_PHILOX_W1;
}

void emi_philox4x32_rounds_ref(unsigned rounds, const uint32_t ctr[4], const uint32_t key[2],
                               uint32_t out[4])
{
  uint32_t x[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
  uint32_t k[2] = {key[0], key[1]};
  for (unsigned r = 0; r < rounds; r++) {
    if (r > 0) philox4x32_bumpkey_ref(k);
    philox4x32_round_ref(x, k);
  }
  for (int i = 0; i < 4; i++) out[i] = x[i];
}

void emi_philox4x32_10_ref(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
  emi_philox4x32_rounds_ref(10, ctr, key, out);
}

/* ------------------------------------------------------------------------------ optimised
 * The same ten rounds, unrolled on scalars, with the round keys key + r * W (mod 2^32) written
 * out.  No memory traffic inside, so one call is ten pairs of 32x32->64 multiplies plus xors,
 * and the block loop below has independent iterations the compiler vectorises (vpmuludq). */

#define EMI_PHILOX_ROUND(x0, x1, x2, x3, k0, k1)                                          \
  do {                                                                                    \
    uint64_t p0_ = (uint64_t)EMI_PHILOX_M0 * (x0);                                        \
    uint64_t p1_ = (uint64_t)EMI_PHILOX_M1 * (x2);                                        \
    uint32_t y0_ = (uint32_t)(p1_ >> 32) ^ (x1) ^ (k0);                                    \
    uint32_t y2_ = (uint32_t)(p0_ >> 32) ^ (x3) ^ (k1);                                    \
    (x1) = (uint32_t)p1_;                                                                 \
    (x3) = (uint32_t)p0_;                                                                 \
    (x0) = y0_;                                                                           \
    (x2) = y2_;                                                                           \
  } while (0)

#define EMI_PHILOX_10_ROUNDS(x0, x1, x2, x3, k0, k1)                                      \
  do {                                                                                    \
    EMI_PHILOX_ROUND(x0, x1, x2, x3, (k0), (k1));                                         \
    EMI_PHILOX_ROUND(x0, x1, x2, x3, (k0) + 1u * EMI_PHILOX_W0, (k1) + 1u * EMI_PHILOX_W1); \
    EMI_PHILOX_ROUND(x0, x1, x2, x3, (k0) + 2u * EMI_PHILOX_W0, (k1) + 2u * EMI_PHILOX_W1); \
    EMI_PHILOX_ROUND(x0, x1, x2, x3, (k0) + 3u * EMI_PHILOX_W0, (k1) + 3u * EMI_PHILOX_W1); \
    EMI_PHILOX_ROUND(x0, x1, x2, x3, (k0) + 4u * EMI_PHILOX_W0, (k1) + 4u * EMI_PHILOX_W1); \
    EMI_PHILOX_ROUND(x0, x1, x2, x3, (k0) + 5u * EMI_PHILOX_W0, (k1) + 5u * EMI_PHILOX_W1); \
    EMI_PHILOX_ROUND(x0, x1, x2, x3, (k0) + 6u * EMI_PHILOX_W0, (k1) + 6u * EMI_PHILOX_W1); \
    EMI_PHILOX_ROUND(x0, x1, x2, x3, (k0) + 7u * EMI_PHILOX_W0, (k1) + 7u * EMI_PHILOX_W1); \
    EMI_PHILOX_ROUND(x0, x1, x2, x3, (k0) + 8u * EMI_PHILOX_W0, (k1) + 8u * EMI_PHILOX_W1); \
    EMI_PHILOX_ROUND(x0, x1, x2, x3, (k0) + 9u * EMI_PHILOX_W0, (k1) + 9u * EMI_PHILOX_W1); \
  } while (0)

void emi_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
  uint32_t x0 = ctr[0], x1 = ctr[1], x2 = ctr[2], x3 = ctr[3];
  const uint32_t k0 = key[0], k1 = key[1];
  EMI_PHILOX_10_ROUNDS(x0, x1, x2, x3, k0, k1);
  out[0] = x0;
  out[1] = x1;
  out[2] = x2;
  out[3] = x3;
}

void emi_philox4x32_10_blocks(size_t nblocks, const uint32_t ctr[4], const uint32_t key[2],
                              uint32_t *restrict out)
{
  const uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
  const uint32_t k0 = key[0], k1 = key[1];
  for (size_t i = 0; i < nblocks; i++) {
    uint32_t x0 = c0, x1 = c1, x2 = c2, x3 = c3 + (uint32_t)i;
    EMI_PHILOX_10_ROUNDS(x0, x1, x2, x3, k0, k1);
    out[4 * i + 0] = x0;
    out[4 * i + 1] = x1;
    out[4 * i + 2] = x2;
    out[4 * i + 3] = x3;
  }
}

/* ------------------------------------------------------------------------------ streams */

emi_err_t emi_stream_init(emi_stream_t *s, uint64_t seed, uint32_t purpose, uint64_t entity,
                          uint32_t step)
{
  if (!s) return EMI_ERROR(EMI_ERR_ARG, "stream pointer is NULL");
  if (purpose > EMI_STREAM_PURPOSE_MAX)
    return EMI_ERROR(EMI_ERR_DOMAIN, "stream purpose = %" PRIu32 ", expected purpose <= %" PRIu32,
                     purpose, EMI_STREAM_PURPOSE_MAX);
  if (entity > EMI_STREAM_ENTITY_MAX)
    return EMI_ERROR(EMI_ERR_DOMAIN, "stream entity = %" PRIu64 ", expected entity <= %" PRIu64
                     " (48 bits)", entity, EMI_STREAM_ENTITY_MAX);
  s->key[0] = (uint32_t)seed;
  s->key[1] = (uint32_t)(seed >> 32);
  s->ctr[0] = step;
  s->ctr[1] = (uint32_t)entity;
  s->ctr[2] = (uint32_t)(entity >> 32) | (purpose << 16);
  s->ctr[3] = 0;
  s->buf[0] = s->buf[1] = s->buf[2] = s->buf[3] = 0;
  s->used = 4;
  return EMI_SUCCESS;
}

void emi_stream_refill_(emi_stream_t *s)
{
  emi_philox4x32_10(s->ctr, s->key, s->buf);
  s->ctr[3]++;
  s->used = 0;
}

void emi_stream_fill_u32(emi_stream_t *restrict s, size_t n, uint32_t *restrict out)
{
  /* what is left of the current block, then whole blocks straight into out, then a partial one */
  while (n > 0 && s->used < 4) {
    *out++ = s->buf[s->used++];
    n--;
  }
  size_t whole = n / 4;
  if (whole > 0) {
    emi_philox4x32_10_blocks(whole, s->ctr, s->key, out);
    s->ctr[3] += (uint32_t)whole;
    out += 4 * whole;
    n -= 4 * whole;
  }
  if (n > 0) {
    emi_stream_refill_(s);
    while (n > 0) {
      *out++ = s->buf[s->used++];
      n--;
    }
  }
}
