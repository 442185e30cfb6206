/* emi_crossings.h: crossing records: the HDF5 compound form, its collective writer, and the
 * validation of one CSV record (reject reasons).
 *
 * The compound form is what `emflow simulate --crossings-h5` and `emflow convert` write and what the
 * ingest of `emflow classify` (issue 4) reads: the same records as the crossings CSV of DESIGN.md
 *   person_id,crossed_at,direction,citizenship,border_point,document,sex,birth_year
 * in one 1-D dataset /crossings/records (one element per record, in the order of the CSV), one
 * fixed-size record of 111 bytes in the file (packed, little-endian):
 *
 *   member        file type                    meaning
 *   person_id     string[64], NUL-padded       pseudonymised person key, the text of the CSV field
 *                                              (1..64 bytes; a key of exactly 64 bytes has no NUL)
 *   day           H5T_STD_I32LE                days since 1970-01-01 (UTC, proleptic Gregorian)
 *   second        H5T_STD_I32LE                seconds after 00:00 UTC of `day`, 0..86399;
 *                                              -1 when the record has a date only
 *   direction     enum uint8 {IN = 1, OUT = 2} entry into / exit from the country
 *   citizenship   string[3], NUL-padded        ISO 3166-1 alpha-3 code (3 capital letters)
 *   border_point  string[16], NUL-padded       border crossing point code (1..16 bytes)
 *   document      string[16], NUL-padded       document type (1..16 bytes)
 *   sex           enum uint8 {M = 1, F = 2, X = 3}   X: unspecified (ICAO Doc 9303)
 *   birth_year    H5T_STD_I16LE                calendar year of birth
 *
 * Design decisions (issue 3):
 * - person_id keeps the key TEXT, not a 64-bit hash.  Keys are pseudonymised at ingest with keyed
 *   HMAC-SHA-256 when a key file is given (issue 4); a hash taken here would be unkeyed, irreversible
 *   for the ingest's HMAC and, at 10^8 persons, collide with probability ~3e-4 (64 bits).  So this
 *   file is an INPUT format, exactly as sensitive as the CSV it replaces, and the keyed hash stays
 *   the ingest's job.  64 bytes hold the hex of a SHA-256/HMAC-SHA-256 digest or a UUID; shuffle +
 *   deflate remove the NUL padding on disk.
 * - Time is (day, second) rather than int64 seconds: the day is what the 12/16 rule works in
 *   (windows of 487 days), and a date-only record (second = -1) stays distinguishable from midnight.
 *   ISO 8601 offsets (Z, +hh:mm) are applied: the stored time is UTC; a time without an offset is
 *   taken as UTC.
 * - border_point and document are short strings rather than indexes into a codelist: the file can
 *   be written in one streaming pass without knowing the codes in advance, two writers of the same
 *   records (simulate and convert) give identical datasets, and deflate makes repeated codes cheap.
 * - Enums are HDF5 enum types, so h5dump and h5py show the names.
 *
 * Layout: /crossings/records is chunked along its one dimension with EMI_CROSSINGS_CHUNK records a
 * chunk (250 KiB), shuffle + deflate EMI_H5_DEFLATE_LEVEL, extendible (maximum size unlimited),
 * object time tracking off.  Attributes: units "" and long_name on the dataset, and per member
 * `<member>_units` / `<member>_long_name`.  The writer streams: each rank appends its records in
 * rounds; a round's records follow each other in rank order.  Chunks are written in GROUPS of
 * EMI_CROSSINGS_GROUP chunks, one collective H5Dwrite a group, after extending the dataset to the
 * group's end; in each group rank r owns (assembles and writes, whole, once) the contiguous positions
 * [ceil(r G / N), ceil((r + 1) G / N)), so the chunks reach HDF5 in chunk order; the last, partial
 * group is written by emi_crossings_writer_finish.  The sequence of HDF5 calls (extents, the chunks
 * of each write, their order in the collective reallocation) therefore depends only on the number of
 * records, and the file's bytes do not depend on the number of ranks (tests/mpi/simulate.cmake,
 * simulate_h5bytes_*).  Why groups: parallel HDF5 (1.10) allocates a filtered dataset's new chunks
 * when it is extended and writes them compressed with fill values, then reallocates each chunk
 * at its compressed size in the order the ranks' chunk lists are gathered; extending by "whatever
 * completed this round" left holes of compressed fill chunks whose number and place depended on how
 * many ranks appended in a round (crossings.h5 was 201,512 bytes at 1 rank, 202,325 at 3).  At most
 * G ranks compress at once, and a rank holds at most its share of one group plus one round.
 */
#ifndef EMI_CROSSINGS_H
#define EMI_CROSSINGS_H

#include <stddef.h>
#include <stdint.h>

#include "emi_err.h"
#include "emi_h5.h"

#define EMI_CROSSINGS_KEY_LEN 64
#define EMI_CROSSINGS_CODE_LEN 16 /* border_point and document */
#define EMI_CROSSINGS_RECORD_BYTES 111
#define EMI_CROSSINGS_CHUNK 2304 /* records per chunk: 2304 x 111 B = 250 KiB */
#define EMI_CROSSINGS_GROUP 16   /* chunks per collective write (4 MiB uncompressed); fixed: the bytes depend on it */

enum { EMI_CROSSING_IN = 1, EMI_CROSSING_OUT = 2 };
enum { EMI_SEX_M = 1, EMI_SEX_F = 2, EMI_SEX_X = 3 };

/* One record in memory (the file type is packed; see above). */
typedef struct {
  char person_id[EMI_CROSSINGS_KEY_LEN];       /* NUL-padded */
  int32_t day;                                 /* days since 1970-01-01 */
  int32_t second;                              /* 0..86399, -1: date only */
  uint8_t direction;                           /* EMI_CROSSING_IN / EMI_CROSSING_OUT */
  char citizenship[3];                         /* no NUL */
  char border_point[EMI_CROSSINGS_CODE_LEN];   /* NUL-padded */
  char document[EMI_CROSSINGS_CODE_LEN];       /* NUL-padded */
  uint8_t sex;                                 /* EMI_SEX_* */
  int16_t birth_year;
} emi_crossing_t;

/* ------------------------------------------------------------------ validation of one CSV record */

/* Reject reasons, in the order of /crossings/rejects. */
#define EMI_REJECT_LIST(X)                                                                          \
  X(EMI_REJECT_EMPTY_RECORD, "empty_record", "a record, not a blank line")                                        \
  X(EMI_REJECT_FIELD_COUNT, "field_count", "8 comma-separated fields")                              \
  X(EMI_REJECT_LINE_TOO_LONG, "line_too_long", "a line of at most 4096 bytes")                      \
  X(EMI_REJECT_MISSING_KEY, "missing_key", "a non-empty person key")                                \
  X(EMI_REJECT_BAD_KEY, "bad_key", "a person key of 1..64 printable bytes")                         \
  X(EMI_REJECT_BAD_DATE, "bad_date",                                                                \
    "an ISO 8601 date YYYY-MM-DD or date-time YYYY-MM-DDThh:mm[:ss[.f]][Z|+hh:mm|-hh:mm], years 1900..2199") \
  X(EMI_REJECT_UNKNOWN_DIRECTION, "unknown_direction", "IN or OUT")                                 \
  X(EMI_REJECT_INVALID_COUNTRY, "invalid_country", "an ISO 3166-1 alpha-3 code (three capital letters)") \
  X(EMI_REJECT_UNKNOWN_COUNTRY, "unknown_country", "a code of the ISO 3166-1 alpha-3 list")         \
  X(EMI_REJECT_BAD_BORDER_POINT, "bad_border_point", "a border point code of 1..16 printable bytes") \
  X(EMI_REJECT_BAD_DOCUMENT, "bad_document", "a document type of 1..16 printable bytes")            \
  X(EMI_REJECT_UNKNOWN_SEX, "unknown_sex", "M, F or X")                                             \
  X(EMI_REJECT_BAD_BIRTH_YEAR, "bad_birth_year", "a birth year (integer) at most 120 years before the crossing") \
  X(EMI_REJECT_BIRTH_AFTER_CROSSING, "birth_after_crossing", "a birth year not after the year of the crossing")

#define EMI_REJECT_ENUM_(e, name, expected) e,
typedef enum { EMI_REJECT_LIST(EMI_REJECT_ENUM_) EMI_NREJECTS } emi_reject_t;
#undef EMI_REJECT_ENUM_
extern const char *const emi_reject_names[EMI_NREJECTS];
extern const char *const emi_reject_expected[EMI_NREJECTS];

/* The CSV header and its field names, in DESIGN.md order. */
#define EMI_CROSSINGS_NFIELDS 8
extern const char *const emi_crossings_fields[EMI_CROSSINGS_NFIELDS];
#define EMI_CROSSINGS_HEADER "person_id,crossed_at,direction,citizenship,border_point,document,sex,birth_year"
#define EMI_CROSSINGS_MAX_LINE 4096

/* Sorted list of valid citizenship codes (3 capital letters each), or NULL for the shape check only. */
typedef struct {
  int n;
  const char (*codes)[3];
} emi_country_list_t;

/* The ISO 3166-1 alpha-3 codes bundled in inputs/iso3166_alpha3.csv (engine/emi_iso3166.c). */
extern const emi_country_list_t emi_iso3166_alpha3;

/* Why a record was rejected: the reason, the field (index into emi_crossings_fields, or -1 for the
 * whole line) and the text found (truncated, NUL-terminated). */
typedef struct {
  emi_reject_t reason;
  int field;
  char found[80];
} emi_reject_info_t;

/* Pure.  Parse one CSV line (without its line end; a trailing '\r' is ignored) whose fields are in
 * the order col[0..7] gives (col[k] = the position in the line of DESIGN field k).  Returns 1 and
 * fills *rec when the record is valid, 0 and fills *why otherwise.  Fields may be enclosed in double
 * quotes (RFC 4180, no embedded line ends); surrounding blanks are not allowed except in quotes.
 * A line longer than EMI_CROSSINGS_MAX_LINE is reported as "(a line longer than 4096 bytes)", never
 * by its text (which begins with the person key).  Thread-safe (the parallel ingest calls it from
 * every thread). */
int emi_crossing_parse(const char *line, size_t len, const int col[EMI_CROSSINGS_NFIELDS],
                       const emi_country_list_t *countries, emi_crossing_t *rec, emi_reject_info_t *why);

/* Pure.  Parse crossed_at: returns 1 and (day, second) on success. */
int emi_crossing_parse_time(const char *s, size_t len, int32_t *day, int32_t *second);

/* ------------------------------------------------------------------ validation of one declaration */

/* Declarations CSV person_id,declared_on,destination (columns in any order): reject reasons, in the
 * order of /undeclared/declaration_rejects.  The whole-line reasons are the crossings' (the same
 * splitter: RFC 4180 quotes, CRLF, at most EMI_CROSSINGS_MAX_LINE bytes). */
#define EMI_DECL_REJECT_LIST(X)                                                                     \
  X(EMI_DECL_REJECT_EMPTY_RECORD, "empty_record", "a record, not a blank line")                                   \
  X(EMI_DECL_REJECT_FIELD_COUNT, "field_count", "3 comma-separated fields")                         \
  X(EMI_DECL_REJECT_LINE_TOO_LONG, "line_too_long", "a line of at most 4096 bytes")                 \
  X(EMI_DECL_REJECT_MISSING_KEY, "missing_key", "a non-empty person key")                           \
  X(EMI_DECL_REJECT_BAD_KEY, "bad_key", "a person key of 1..64 printable bytes")                    \
  X(EMI_DECL_REJECT_BAD_DATE, "bad_date", "an ISO 8601 date YYYY-MM-DD (or a date-time), years 1900..2199") \
  X(EMI_DECL_REJECT_INVALID_COUNTRY, "invalid_country", "an ISO 3166-1 alpha-3 code (three capital letters)") \
  X(EMI_DECL_REJECT_UNKNOWN_COUNTRY, "unknown_country", "a code of the ISO 3166-1 alpha-3 list")

#define EMI_DECL_REJECT_ENUM_(e, name, expected) e,
enum { EMI_DECL_REJECT_LIST(EMI_DECL_REJECT_ENUM_) EMI_DECL_NREJECTS };
#undef EMI_DECL_REJECT_ENUM_
extern const char *const emi_decl_reject_names[EMI_DECL_NREJECTS];
extern const char *const emi_decl_reject_expected[EMI_DECL_NREJECTS];
#define EMI_DECL_NFIELDS 3
extern const char *const emi_decl_fields[EMI_DECL_NFIELDS];
#define EMI_DECL_HEADER "person_id,declared_on,destination"

typedef struct {
  char person_id[EMI_CROSSINGS_KEY_LEN]; /* NUL-padded */
  size_t keylen;
  int32_t day;                           /* days since 1970-01-01 (UTC) */
  char destination[3];
} emi_declaration_t;

/* Pure, thread-safe.  Parse one declarations line (col[k]: the position of field k of emi_decl_fields):
 * 1 and *rec when valid, 0 and *why otherwise (why->reason: an EMI_DECL_REJECT_* value; why->field an
 * index into emi_decl_fields or -1; found never holds the person key). */
int emi_declaration_parse(const char *line, size_t len, const int col[EMI_DECL_NFIELDS],
                          const emi_country_list_t *countries, emi_declaration_t *rec, emi_reject_info_t *why);

/* ------------------------------------------------------------------ the writer */

typedef struct emi_crossings_writer emi_crossings_writer_t;

/* Collective.  Create the extendible dataset `<group>/records` (group created) in f. */
emi_err_t emi_crossings_writer_create(emi_h5_file_t *f, const char *group, emi_crossings_writer_t **w);

/* Collective.  Append this rank's n records (n may be 0 on any or every rank).  The records of the
 * call follow those of earlier calls, rank 0's first, then rank 1's, ...  Complete groups of
 * EMI_CROSSINGS_GROUP chunks are written at once; the rest waits on the chunks' owner ranks. */
emi_err_t emi_crossings_writer_append(emi_crossings_writer_t *w, size_t n, const emi_crossing_t *recs);

/* Collective.  Write the last, partial group and the attributes; *total (optional) = records written. */
emi_err_t emi_crossings_writer_finish(emi_crossings_writer_t *w, uint64_t *total);

/* Local.  Close and free (after finish, or on an error path); accepts NULL, sets *w to NULL. */
void emi_crossings_writer_destroy(emi_crossings_writer_t **w);

/* Fill the padded string member dst[size] from src[0..len) (len <= size). */
void emi_crossing_set_str(char *dst, size_t size, const char *src, size_t len);
/* src (NUL-terminated) for a message: bytes outside printable ASCII as \\xNN, at most size - 1 bytes
 * (cut with "..."), so that a binary file given as CSV cannot put control bytes on a terminal. */
void emi_text_escape(char *dst, size_t size, const char *src);

#endif /* EMI_CROSSINGS_H */
