/* emi_linkage.h: ingest of crossing records and declarations for `emflow classify` (issue 4):
 * validation with counted rejects, pseudonymisation of person keys, and distribution by person.
 *
 * A record in memory is one emi_sort_item_t (24 bytes, kernels/emi_sort.h):
 *   k0  the person key hashed at ingest (emi_link_hash): the input text is dropped at once;
 *   k1  (day + 2^31) << 32 | (second + 1) << 1 | out    (out = 1 for an exit): sorting (k0, k1) groups
 *       a person's records and orders them by day, second (date-only records first in their day),
 *       direction (entry before exit on ties);
 *   v   citizenship (3 letters, 5 bits each) | sex << 15 | (uint16) birth_year << 17.
 * Declarations: k0 the hashed key, k1 = (day + 2^31) << 32, v = 0.
 *
 * Person keys.  With a key file, the key is HMAC-SHA-256(key file bytes, key text) (RFC 2104; the
 * key file must hold 32 to 4096 bytes: a random 32-byte key is the recommended form); without one,
 * SHA-256(key text) (unkeyed: it only hides the keys from casual reading; anyone holding the input
 * can recompute it, and a guessable key space can be enumerated).  SHA-256 is emi_sha256_*
 * (emi_provenance.h: the x86 SHA extensions when present), the HMAC states after the key blocks are
 * kept, so a record costs one compression (two with the key file) for keys up to 55 bytes.  The
 * first 8 bytes of the digest, little-endian, are the 64-bit key used for linkage: two different
 * persons share a key with probability ~ N^2 / 2^65 (3e-4 at N = 10^8).  Neither the keys nor their
 * hashes are ever written to an output or a log; reject messages withhold the person_id field.
 *
 * Rejects.  The reasons of emi_crossings.h (EMI_REJECT_LIST) plus two reasons for a record outside
 * the days the data cover: before_data_start, after_data_end (before / after the bounds lo_day, hi_day
 * of the ingest -- classify's --data-start / --data-end -- or, removed after the ingest by
 * emi_link_store_trim, outside the bounds classify detects from the daily volume).  Records of the HDF5
 * form are validated with the same rules as the CSV parser (emi_crossing_parse), field by field.
 * records in = accepted + rejected on every path.  The first EMI_LINK_NEXAMPLES rejects (in file
 * order, whatever the ranks and threads) are kept as examples: line (HDF5: row), reason, field, text
 * found (never the person key).
 *
 * Ingest in parallel.  The CSV reader maps the rank's byte range window by window (mmap of
 * EMI_LINK_WINDOW_PER_THREAD bytes per thread, unmapped when parsed, so the mapped input never holds
 * more than one window of resident pages; read(2) into a buffer when the file cannot be mapped), cuts
 * each window at its last line end and splits it at line ends into chunks (8 per OpenMP thread, taken
 * dynamically, so a thread slowed by another process on a shared node takes fewer); threads parse,
 * validate and hash their chunks, and the chunks are merged in file order: records, reject counts,
 * the first reject (its file line: the lines of the chunks before it, over windows, plus the lines of
 * the ranks before: MPI_Exscan).  The HDF5 reader does the same with each batch of rows read.  So the records, counts and messages do not depend on the number of threads or
 * ranks.
 *
 * The record store and the sort.  The ingest does not build one array: it appends each record to one
 * of EMI_LINK_NBUCKETS buckets by the top bits of its hashed key, in file order (mapped memory that
 * grows with mremap).  emi_link_store_sort then sends and sorts the buckets in rounds of consecutive
 * buckets (about 1/32 of the records each): a round's records go to rank k0 mod P (MPI_Alltoallv, by
 * sender rank), land in their place of the output array, and the round's buckets are unmapped; then
 * the threads sort the rounds in place, one round per thread at a time (emi_sort_items_serial: stable,
 * so equal keys keep sender order, then file order, exactly as one all-to-all and one sort of
 * everything).  Since buckets are ranges of k0 and k0 leads the order, the
 * rounds' sorted pieces follow each other in order: the result is the same bytes as
 * emi_link_distribute + emi_sort_items of the records in file order, while the memory held is one copy
 * of the records plus two rounds (scratch, send buffer) instead of two copies.
 */
#ifndef EMI_LINKAGE_H
#define EMI_LINKAGE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "emi_crossings.h"
#include "emi_err.h"
#include "emi_provenance.h" /* emi_sha256_t */
#include "emi_sort.h"

enum { EMI_LINK_REJECT_BEFORE_START = EMI_NREJECTS, EMI_LINK_REJECT_AFTER_END, EMI_LINK_NREJECTS };
extern const char *const emi_link_reject_names[EMI_LINK_NREJECTS];

/* ------------------------------------------------------------------ person keys */
typedef struct {
  int keyed;
  emi_sha256_t inner, outer; /* HMAC: SHA-256 after (K ^ ipad), after (K ^ opad) (copied per record) */
} emi_link_hasher_t;

/* Local.  key_file NULL: unkeyed SHA-256.  Otherwise the file's bytes are the HMAC key (32..4096 bytes;
 * EMI_ERR_IO when unreadable, EMI_ERR_CONFIG for a bad length).  The key bytes are wiped after use. */
emi_err_t emi_link_hasher_init(emi_link_hasher_t *h, const char *key_file);
uint64_t emi_link_hash(const emi_link_hasher_t *h, const char *key, size_t len);

/* ------------------------------------------------------------------ records */
static inline uint64_t emi_link_k1(int32_t day, int32_t second, int out)
{
  return ((uint64_t)((uint32_t)day ^ 0x80000000u) << 32) | ((uint64_t)(uint32_t)(second + 1) << 1) | (uint64_t)(out != 0);
}
static inline int32_t emi_link_day(uint64_t k1) { return (int32_t)((uint32_t)(k1 >> 32) ^ 0x80000000u); }
static inline int32_t emi_link_second(uint64_t k1) { return (int32_t)((k1 & 0xffffffffu) >> 1) - 1; }
static inline int emi_link_out(uint64_t k1) { return (int)(k1 & 1u); }
static inline uint64_t emi_link_v(const char cit[3], int sex, int birth_year)
{
  uint64_t c = (uint64_t)(cit[0] - 'A') << 10 | (uint64_t)(cit[1] - 'A') << 5 | (uint64_t)(cit[2] - 'A');
  return c | (uint64_t)(sex & 3) << 15 | (uint64_t)(uint16_t)birth_year << 17;
}
static inline int emi_link_cit(uint64_t v) { return (int)(v & 0x7fffu); } /* 26^3 codes as base-32 triples */
static inline int emi_link_sex(uint64_t v) { return (int)(v >> 15) & 3; }
static inline int emi_link_birth_year(uint64_t v) { return (int16_t)(uint16_t)(v >> 17); }

/* ------------------------------------------------------------------ link table
 * A CSV person_id_a,person_id_b (columns in any order) of pairs of person keys known to be one person
 * (e.g. a dual citizen's two documents).  Both keys are hashed as the records' keys (HMAC with
 * --key-file), and every record (and declaration) under key b is moved to key a before the records are
 * distributed, so a person's records reach one rank and sort into one history.  Chains (b -> a, a -> c)
 * are followed to their end.  The records moved get EMI_LINK_V_LINKED in v (a bit beyond the packed
 * attributes), so that a person's tables can use the attributes of the document of key a.
 * A malformed line is an error naming file:line (the keys are never shown): not two fields, an empty
 * or over-long key, a key with control characters, the same key twice, a key b linked to two different
 * keys, a cycle.  Keys of the table that match no record are counted, not errors. */
#define EMI_LINK_V_LINKED ((uint64_t)1 << 33)
/* A record at one of the border points of emi_link_ingest_t.land_points (the loss correction's class). */
#define EMI_LINK_V_LAND ((uint64_t)1 << 34)

typedef struct {
  uint64_t b, a0; /* hashed keys of a line: records of b become records of a0 ... */
  uint64_t a;     /* ... and, chains followed, of a (the key at the end of the chain) */
  int64_t line;   /* file line, for messages */
} emi_link_pair_t;

typedef struct {
  int64_t pairs;            /* lines of the table */
  int64_t keys_merged;      /* keys b found in the records (their records moved to key a) */
  int64_t records_relinked; /* records moved */
  int64_t keys_unknown;     /* keys of the table (a or b) found in no record */
} emi_link_table_counts_t;

typedef struct {
  const emi_link_hasher_t *hasher;
  const emi_country_list_t *countries; /* NULL: shape check only */
  int32_t lo_day, hi_day;              /* accepted days (inclusive); INT32_MIN/INT32_MAX: any */
  int quiet_bounds;                    /* 1: the records outside [lo_day, hi_day] are counted rejects but neither
                                        * examples nor the first reject (a cut the user asked for) */
  /* link table (emi_link_read_table; NULL/0: none): every accepted record of a key b is moved to its
   * key a at ingest, marked EMI_LINK_V_LINKED, exactly as emi_link_apply(..., mark = 1) would do */
  const emi_link_pair_t *pairs;
  size_t npairs;
  /* CSV bytes mapped (or read) at a time by all threads together; 0: threads x
   * EMI_LINK_WINDOW_PER_THREAD.  At least EMI_LINK_WINDOW_MIN (a window always holds a whole line of
   * the longest accepted length).  The records do not depend on it; tests set it small. */
  size_t window_bytes;
  /* border-point codes of the class "land" of the loss correction (classify --land-border-points): an
   * accepted record at one of them gets EMI_LINK_V_LAND in v; NULL/0: none */
  const char *const *land_points;
  int nland;
} emi_link_ingest_t;

/* A rejected record: its file line (HDF5: row index from 0) and why (found: never the person key). */
#define EMI_LINK_NEXAMPLES 5
typedef struct {
  int64_t line;
  emi_reject_info_t why;
} emi_link_example_t;

typedef struct {
  int64_t in, accepted, rejects[EMI_LINK_NREJECTS];
  int nex;                                     /* the first rejects in file order (on every rank) */
  emi_link_example_t ex[EMI_LINK_NEXAMPLES];
  int64_t first_bad;          /* global index of the first rejected record (CSV: file line), -1: none */
  emi_reject_info_t bad;      /* why (found text withheld for person_id) -- valid on the rank that has it */
  int32_t min_day, max_day;   /* over accepted records (INT32_MAX / INT32_MIN when none) */
  emi_link_table_counts_t links; /* with a link table: as emi_link_apply's counts (zero without) */
} emi_link_counts_t;

/* The accepted records of one rank between the ingest and the sort (see the top of this file). */
#define EMI_LINK_BUCKET_BITS 8
#define EMI_LINK_NBUCKETS (1 << EMI_LINK_BUCKET_BITS)
#define EMI_LINK_WINDOW_PER_THREAD ((size_t)8 << 20) /* CSV bytes mapped at a time, per thread */
#define EMI_LINK_WINDOW_MIN ((size_t)2 * (EMI_CROSSINGS_MAX_LINE + 2))
typedef struct emi_link_store emi_link_store_t;
/* Local.  Records held. */
size_t emi_link_store_count(const emi_link_store_t *s);
/* Local.  Accepts NULL and *s == NULL; sets *s to NULL. */
void emi_link_store_destroy(emi_link_store_t **s);

/* Collective.  Read /crossings/records of an HDF5 file written by simulate --crossings-h5 or convert:
 * rank r reads its contiguous slab of rows [N r / P, N (r + 1) / P), in batches, validates and packs
 * them (threads over each batch).  *store: the accepted records of this rank (caller destroys).
 * counts are summed over ranks on return (first_bad: the smallest; bad: on the rank that has it). */
emi_err_t emi_link_read_h5(MPI_Comm comm, const char *path, const emi_link_ingest_t *cfg, emi_link_store_t **store,
                           emi_link_counts_t *counts);
/* Collective.  The crossings CSV of DESIGN.md (columns in any order, BOM and CRLF accepted), split by
 * byte ranges across ranks (as emflow convert), each rank's range mapped window by window and parsed
 * by the OpenMP threads (see the top of this file); every record parsed by emi_crossing_parse. */
emi_err_t emi_link_read_csv(MPI_Comm comm, const char *path, const emi_link_ingest_t *cfg, emi_link_store_t **store,
                            emi_link_counts_t *counts);
/* Collective.  Distribute the store's records by person (rank k0 mod P) and sort them by (k0, k1), in
 * rounds of buckets (see the top of this file).  *items (malloc'ed, caller frees) and *n: this rank's
 * records in sorted order, the same bytes as emi_link_distribute + emi_sort_items of the records in
 * file order.  *store is consumed (destroyed, set to NULL) whatever the outcome. */
emi_err_t emi_link_store_sort(MPI_Comm comm, emi_link_store_t **store, emi_sort_item_t **items, size_t *n);
/* Local.  Accepted records per day: count[d - lo] += records of day d, for lo <= d <= hi (caller zeroes
 * count[0 .. hi - lo] and sums it over ranks). */
void emi_link_store_days(const emi_link_store_t *s, int32_t lo, int32_t hi, int64_t *count);
/* Local.  Remove the records dated before lo or after hi, keeping the order of the others; *below and
 * *above: the records removed (this rank). */
void emi_link_store_trim(emi_link_store_t *s, int32_t lo, int32_t hi, int64_t *below, int64_t *above);

/* Pure.  The days the data cover, from the accepted records per day count[0 .. hi - lo] (day lo + i),
 * robust to a few mis-dated records (README, classify, "The data start and end"):
 *  1. gap rule: from the median record's day, walk forward (backward) over the days; the data end (start)
 *     is the last (first) day with records before the first run of more than gap_days days without any;
 *  2. volume rule: then, while the end day E has fewer records than min_share x the median count of the
 *     28 days with records before it (at least 1 record), E moves to the previous day with records; the
 *     same for the start day S with the 28 days after it.
 * *start, *end: S and E (start = end = lo when no day has records); *why_start, *why_end (may be NULL):
 * 0 when the first (last) record's day was kept, else bit 1: the gap rule moved it, bit 2: the volume
 * rule did. */
void emi_link_data_span(const int64_t *count, int32_t lo, int32_t hi, int32_t gap_days, double min_share,
                        int32_t *start, int32_t *end, int *why_start, int *why_end);

/* Declarations: counts (summed over ranks) by reason of emi_crossings.h (EMI_DECL_REJECT_LIST), and the
 * first rejects in file order (line: the file line; the same on every rank). */
typedef struct {
  int64_t in, accepted, rejects[EMI_DECL_NREJECTS];
  int nex;
  emi_link_example_t ex[EMI_LINK_NEXAMPLES];
} emi_link_decl_counts_t;
/* Collective.  Declarations CSV person_id,declared_on,destination (columns in any order; each line
 * parsed by emi_declaration_parse, destinations checked against countries unless NULL).  A bad header
 * is an error naming the file and line 1; a bad line is a counted reject (in = accepted + rejected). */
emi_err_t emi_link_read_declarations(MPI_Comm comm, const char *path, const emi_link_hasher_t *h,
                                     const emi_country_list_t *countries, emi_sort_item_t **items, size_t *n,
                                     emi_link_decl_counts_t *counts);

/* Collective.  Read the table (byte ranges per rank), hash, gather on every rank, sort by b and resolve
 * chains: *pairs (malloc'ed, the same on every rank) sorted by b, a the final key. */
emi_err_t emi_link_read_table(MPI_Comm comm, const char *path, const emi_link_hasher_t *h, emi_link_pair_t **pairs,
                              size_t *npairs);
/* Collective.  Move the local items of every key b to its key a (v |= EMI_LINK_V_LINKED when mark), in
 * place, order kept.  counts (may be NULL: declarations) are summed over ranks on return. */
emi_err_t emi_link_apply(MPI_Comm comm, const emi_link_pair_t *pairs, size_t npairs, emi_sort_item_t *items, size_t n,
                         int mark, emi_link_table_counts_t *counts);

/* Collective.  Send every item to rank k0 mod P (MPI_Alltoallv).  Items arrive grouped by sender rank,
 * each sender's in its order, so with inputs read in file order (rank r holds slab r) every rank ends
 * with its records in file order: the result does not depend on P except for which rank holds what. */
emi_err_t emi_link_distribute(MPI_Comm comm, emi_sort_item_t **items, size_t *n);

#endif /* EMI_LINKAGE_H */
