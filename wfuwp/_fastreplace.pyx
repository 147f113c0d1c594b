# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled twin of `wfuwp._pyreplace`: the same names, the same bytes, the same counts.

All the work on bytes is C that runs without the GIL: `replace` releases it for one value,
`render_rows` collects a batch's buffers under the GIL, then rewrites, escapes and checksums the whole
batch without it. The readable reference of every rule below is `wfuwp/_pyreplace.py`.

One thing here has no counterpart in the twin, because it changes only speed: a prefilter that finds
in one scan which rules occur in a value (see `occurring`), so that a value without a match costs
one pass instead of one memmem() per rule.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from libc.stdlib cimport free, malloc, realloc, calloc
from libc.string cimport memchr, memcmp, memcpy, memset


cdef extern from "string.h" nogil:
    void *memmem(const void *haystack, size_t haystacklen, const void *needle, size_t needlelen)

# SSE2 (every x86-64 CPU has it) tests 16 bytes at once against a few candidate first bytes.
cdef extern from *:
    """
    #if defined(__SSE2__)
    #include <emmintrin.h>
    #define WF_HAVE_SSE2 1
    /* Return the first i' >= i where v[i'] is one of nbytes (1 to 8) bytes, each given 16 times in a
       row in splat, or the start of the last partial 16-byte block if there is none before it. */
    static inline size_t wf_skip_sse2(const unsigned char *v, size_t i, size_t n,
                                      const unsigned char *splat, int nbytes) {
        const __m128i *m = (const __m128i *)splat;
        int k;
        while (i + 16 <= n) {
            __m128i x = _mm_loadu_si128((const __m128i *)(v + i));
            __m128i acc = _mm_cmpeq_epi8(x, _mm_loadu_si128(m));
            for (k = 1; k < nbytes; k++) acc = _mm_or_si128(acc, _mm_cmpeq_epi8(x, _mm_loadu_si128(m + k)));
            int bits = _mm_movemask_epi8(acc);
            if (bits) return i + (size_t)__builtin_ctz((unsigned)bits);
            i += 16;
        }
        return i;
    }
    #else
    #define WF_HAVE_SSE2 0
    static inline size_t wf_skip_sse2(const unsigned char *v, size_t i, size_t n,
                                      const unsigned char *splat, int nbytes) { return i; }
    #endif
    """
    int WF_HAVE_SSE2
    size_t wf_skip_sse2(const unsigned char *v, size_t i, size_t n, const unsigned char *splat,
                        int nbytes) noexcept nogil


cdef extern from "zlib.h" nogil:
    unsigned long crc32(unsigned long crc, const unsigned char *buf, unsigned int length)


HOST_START = 1
HOST_END = 2
SUBDOMAIN = 4
MAX_NESTED_SERIALIZED = 64
KIND_TEXT = ord("T")
KIND_QUOTED = ord("Q")
KIND_HEX = ord("X")
KIND_NUMBER = ord("N")
STAT_NAMES = (
    "values_seen",
    "values_changed",
    "replacements",
    "malformed_serialized",
    "skipped_custom",
    "too_deep",
)

DEF C_MAX_NESTED = 64

# Results of rewrite(): a value is unchanged, changed, or cannot be processed.
cdef enum:
    R_UNCHANGED = 0
    R_CHANGED = 1
    R_NOMEM = -1
    R_TOO_DEEP = -2

# Results of the structural parser.
cdef enum:
    P_OK = 0
    P_MALFORMED = 1

cdef enum:
    F_HOST_START = 1
    F_HOST_END = 2
    F_SUBDOMAIN = 4


# -- growable buffers ------------------------------------------------------------------------------

ctypedef struct Buf:
    char *data
    size_t len
    size_t cap


cdef inline int buf_reserve(Buf *b, size_t extra) noexcept nogil:
    cdef size_t need = b.len + extra
    cdef size_t cap
    cdef char *p
    if need <= b.cap:
        return 0
    cap = b.cap * 2 if b.cap else 256
    while cap < need:
        cap *= 2
    p = <char *>realloc(b.data, cap)
    if p == NULL:
        return -1
    b.data = p
    b.cap = cap
    return 0


cdef inline int buf_put(Buf *b, const char *p, size_t n) noexcept nogil:
    if n == 0:
        return 0
    if buf_reserve(b, n) != 0:
        return -1
    memcpy(b.data + b.len, p, n)
    b.len += n
    return 0


cdef inline int buf_put_uint(Buf *b, unsigned long long v) noexcept nogil:
    cdef char tmp[24]
    cdef int i = 24
    if v == 0:
        return buf_put(b, "0", 1)
    while v:
        i -= 1
        tmp[i] = <char>(48 + v % 10)
        v //= 10
    return buf_put(b, tmp + i, 24 - i)


cdef inline void buf_free(Buf *b) noexcept nogil:
    free(b.data)
    b.data = NULL
    b.len = 0
    b.cap = 0


ctypedef struct Stack:
    long long *items
    size_t len
    size_t cap


cdef inline int stack_push(Stack *s, long long v) noexcept nogil:
    cdef size_t cap
    cdef long long *p
    if s.len == s.cap:
        cap = s.cap * 2 if s.cap else 64
        p = <long long *>realloc(s.items, cap * sizeof(long long))
        if p == NULL:
            return -1
        s.items = p
        s.cap = cap
    s.items[s.len] = v
    s.len += 1
    return 0


# -- character classes -------------------------------------------------------------------------------

cdef unsigned char LABEL[256]
cdef unsigned char HOSTCH[256]
cdef unsigned char SQL_ESC[256]
cdef unsigned char LOAD_ESC[256]
cdef const char *HEX = "0123456789ABCDEF"


# How common each byte is in web text (English prose, HTML, URLs), roughly per 10,000 bytes; the
# prefilter anchors each rule on its rarest bytes. Only speed depends on these numbers.
cdef unsigned short BYTE_FREQ[256]


cdef void _init_freq():
    cdef int c
    cdef bytes letters = b"etaoinshrdlcumwfgypbvkjxqz"
    cdef int[26] per = [1000, 750, 650, 620, 570, 560, 510, 490, 490, 340, 330, 230, 230, 200, 190, 180,
                        160, 160, 160, 120, 80, 60, 10, 12, 8, 6]
    for c in range(256):
        BYTE_FREQ[c] = 5 if c >= 128 else 2  # non-ASCII text, control bytes
    for c in range(26):
        BYTE_FREQ[letters[c]] = per[c]
        BYTE_FREQ[letters[c] - 32] = 20 + per[c] // 20  # capitals
    for c in range(48, 58):
        BYTE_FREQ[c] = 60  # digits
    BYTE_FREQ[32] = 1800  # space
    for c in b".,":
        BYTE_FREQ[c] = 120
    for c in b'<>"=/':
        BYTE_FREQ[c] = 80  # HTML
    for c in b"\n-_'();":
        BYTE_FREQ[c] = 30
    for c in b":&?#!%{}[]":
        BYTE_FREQ[c] = 10
    for c in b"\\@|^~`$*+\t\r":
        BYTE_FREQ[c] = 4


cdef void _init_tables():
    cdef int c
    _init_freq()
    for c in range(256):
        LABEL[c] = (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122) or c == 95 or c == 45
        HOSTCH[c] = LABEL[c] or c == 46
        SQL_ESC[c] = 0
    SQL_ESC[92] = 92   # backslash -> \\
    SQL_ESC[0] = 48    # NUL -> \0
    SQL_ESC[10] = 110  # LF -> \n
    SQL_ESC[13] = 114  # CR -> \r
    SQL_ESC[39] = 39   # ' -> \'
    SQL_ESC[34] = 34   # " -> \"
    SQL_ESC[26] = 90   # 0x1A -> \Z
    # LOAD DATA's default format (FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n'):
    # only the escape, the two terminators and NUL need escaping.
    for c in range(256):
        LOAD_ESC[c] = 0
    LOAD_ESC[92] = 92  # backslash -> \\
    LOAD_ESC[0] = 48   # NUL -> \0
    LOAD_ESC[9] = 116  # TAB -> \t
    LOAD_ESC[10] = 110 # LF -> \n


_init_tables()


cdef inline bint is_ws(unsigned char c) noexcept nogil:
    # PHP's trim() set, which WordPress strips before unserializing.
    return c == 32 or c == 9 or c == 10 or c == 13 or c == 0 or c == 11


# -- rules -----------------------------------------------------------------------------------------

ctypedef struct CRule:
    const char *search
    size_t slen
    const char *repl
    size_t rlen
    int flags
    int nex
    const char **ex
    size_t *exlen
    size_t rare           # offset of the search string's rarest byte (see BYTE_FREQ)


ctypedef struct Counts:
    long long replacements
    long long malformed
    long long skipped_custom


ctypedef struct Level:
    Buf a        # plain replacement ping-pong buffers
    Buf b
    Buf out      # structural rewrite output
    Stack stack  # remaining items of open containers


# The prefilter: one pass over a value tells which rules occur in it, so that text without a match
# costs one scan instead of one memmem() per rule. Each rule has an anchor, the two adjacent bytes of
# its search string that are rarest in web text (by the rarer first byte, then the second); a hit on
# an anchor is checked against the whole search string. A one-byte rule is its own anchor.
DEF MAX_FILTERED = 64  # rules beyond the first 64 (one bit each in a mask) are always searched

ctypedef struct Anchor:
    unsigned char second  # the anchor's second byte (its first is the group's)
    int rule
    size_t offset         # of the anchor in the search string


ctypedef struct Filter:
    unsigned char first[256]        # nonzero: some anchor starts with this byte
    unsigned long long single[256]  # the one-byte rules whose search is this byte
    unsigned short start[257]       # anchors[start[c]:start[c + 1]] are the anchors starting with c
    Anchor anchors[MAX_FILTERED]
    unsigned long long all          # every filtered rule
    unsigned long long creates[MAX_FILTERED]  # the rules a replacement by rule i can make occur
    unsigned char splat[8][16]      # the distinct first bytes of anchors, 16 times each, if at most 8
    int nfirsts                     # how many (0: more than 8, or no SIMD: use the table)


ctypedef struct Ctx:
    CRule *rules
    int nrules
    Filter filter
    Level levels[C_MAX_NESTED + 1]


cdef bint match_allowed(const char *v, size_t n, size_t start, size_t end, const CRule *r) noexcept nogil:
    cdef unsigned char after, before
    cdef size_t token_start = start
    cdef size_t tlen, hlen
    cdef int i
    if r.flags & F_HOST_END and end < n:
        after = <unsigned char>v[end]
        if LABEL[after]:
            return False
        if after == 46 and end + 1 < n and LABEL[<unsigned char>v[end + 1]]:
            return False
    if r.flags & F_HOST_START and start > 0:
        before = <unsigned char>v[start - 1]
        if HOSTCH[before] or before == 64:
            return False
    if r.flags & F_SUBDOMAIN:
        if start == 0 or not LABEL[<unsigned char>v[start - 1]]:
            return False
        token_start = start - 1
        while token_start > 0 and HOSTCH[<unsigned char>v[token_start - 1]]:
            token_start -= 1
        if token_start > 0 and v[token_start - 1] == 64:
            return False
    if r.nex:
        tlen = end - token_start
        for i in range(r.nex):
            hlen = r.exlen[i]
            if tlen == hlen and memcmp(v + token_start, r.ex[i], hlen) == 0:
                return False
            if tlen > hlen and v[end - hlen - 1] == 46 and memcmp(v + end - hlen, r.ex[i], hlen) == 0:
                return False
    return True


DEF SHORT_HAYSTACK = 1024  # below this, memmem()'s setup costs more than a memchr() search


cdef inline const char *find(const char *v, size_t n, size_t pos, const CRule *r) noexcept nogil:
    cdef const char *p
    cdef const char *last
    if pos >= n or n - pos < r.slen:
        return NULL
    if n - pos >= SHORT_HAYSTACK:
        return <const char *>memmem(v + pos, n - pos, r.search, r.slen)
    # Look for the rarest byte, then compare: at most SHORT_HAYSTACK * slen work, usually much less.
    p = v + pos + r.rare
    last = v + n - r.slen + r.rare  # the last place the rarest byte can be
    while p <= last:
        p = <const char *>memchr(p, r.search[r.rare], last - p + 1)
        if p == NULL:
            return NULL
        if memcmp(p - r.rare, r.search, r.slen) == 0:
            return p - r.rare
        p += 1
    return NULL


cdef int replace_one_rule(const char *v, size_t n, const CRule *r, const char *first, Buf *out,
                          Counts *counts) noexcept nogil:
    """Write v with r applied (str_replace semantics) into out; `first` is a known first candidate."""
    cdef size_t last = 0, start, end
    cdef const char *hit = first
    cdef long long made = 0
    out.len = 0
    while hit != NULL:
        start = hit - v
        end = start + r.slen
        if r.flags == 0 or match_allowed(v, n, start, end, r):
            if buf_put(out, v + last, start - last) or buf_put(out, r.repl, r.rlen):
                return -1
            made += 1
            last = end
            hit = find(v, n, end, r)
        else:
            hit = find(v, n, start + 1, r)
    if made == 0:
        return 0
    if buf_put(out, v + last, n - last):
        return -1
    counts.replacements += made
    return 1


cdef unsigned long long occurring(const Ctx *ctx, const unsigned char *v, size_t n,
                                  size_t *first) noexcept nogil:
    """Return the mask of the filtered rules whose search string occurs in v; first[i] is where rule
    i first occurs (set for the rules in the mask)."""
    cdef const Filter *f = &ctx.filter
    cdef const Anchor *a
    cdef const CRule *r
    cdef size_t i = 0, stop
    cdef unsigned long long mask = 0, bit
    cdef unsigned short j
    cdef unsigned char c
    while i < n:
        if f.nfirsts:
            i = wf_skip_sse2(v, i, n, &f.splat[0][0], f.nfirsts)
        # Skip eight bytes at a time while none of them can start an anchor (the common case).
        while i + 8 <= n and not (f.first[v[i]] | f.first[v[i + 1]] | f.first[v[i + 2]] | f.first[v[i + 3]]
                                  | f.first[v[i + 4]] | f.first[v[i + 5]] | f.first[v[i + 6]]
                                  | f.first[v[i + 7]]):
            i += 8
        stop = i + 8 if i + 8 <= n else n
        while i < stop:
            c = v[i]
            if f.first[c]:
                if f.single[c] & ~mask:
                    for j in range(MAX_FILTERED):
                        if (f.single[c] & ~mask) >> j & 1:
                            first[j] = i
                    mask |= f.single[c]
                if i + 1 < n:
                    for j in range(f.start[c], f.start[c + 1]):
                        a = &f.anchors[j]
                        bit = (<unsigned long long>1) << a.rule
                        if a.second != v[i + 1] or mask & bit or i < a.offset:
                            continue
                        r = &ctx.rules[a.rule]
                        if i - a.offset + r.slen <= n and memcmp(v + i - a.offset, r.search, r.slen) == 0:
                            mask |= bit
                            first[a.rule] = i - a.offset
                if mask == f.all:
                    return mask
            i += 1
    return mask


cdef int plain(Ctx *ctx, const char *src, size_t n, int depth, const char **res, size_t *res_len,
               Counts *counts) noexcept nogil:
    """Apply every rule in order; the result is src itself or a buffer of this depth's level."""
    cdef const char *cur = src
    cdef size_t cur_len = n
    cdef const char *hit
    cdef Level *lv = &ctx.levels[depth]
    cdef Buf *target
    cdef int i, rc, changed = 0
    cdef size_t first[MAX_FILTERED]
    cdef unsigned long long mask = occurring(ctx, <const unsigned char *>src, n, first)
    if mask == 0 and ctx.nrules <= MAX_FILTERED:
        res[0] = src
        res_len[0] = n
        return R_UNCHANGED
    for i in range(ctx.nrules):
        if i < MAX_FILTERED and not (mask >> i) & 1:
            continue
        # Until a rule changes the text, the filter knows where each rule first occurs.
        hit = src + first[i] if not changed and i < MAX_FILTERED else find(cur, cur_len, 0, &ctx.rules[i])
        if hit == NULL:
            continue
        target = &lv.b if cur == lv.a.data and changed else &lv.a
        rc = replace_one_rule(cur, cur_len, &ctx.rules[i], hit, target, counts)
        if rc < 0:
            return R_NOMEM
        if rc == 1:
            cur = target.data
            cur_len = target.len
            changed = 1
            # Text that did not change holds no new match; one overlapping the replacement may be new.
            if i < MAX_FILTERED:
                mask |= ctx.filter.creates[i]
    res[0] = cur
    res_len[0] = cur_len
    return R_CHANGED if changed else R_UNCHANGED


cdef bint may_create(const CRule *by, const CRule *rule) noexcept nogil:
    """Tell whether inserting by's replacement can make a new occurrence of rule's search string.

    A new occurrence overlaps an inserted replacement (any other lies in text that was already
    there), so it can exist only if the search string agrees with the replacement where they
    overlap, at some alignment. Removing text (an empty replacement) joins old text: anything goes.
    """
    cdef const char *r = by.repl
    cdef const char *t = rule.search
    cdef long rlen = by.rlen, tlen = rule.slen, d, lo, hi
    if rlen == 0:
        return True
    for d in range(-(tlen - 1), rlen):  # the search string starts at offset d of the replacement
        lo = d if d > 0 else 0
        hi = d + tlen if d + tlen < rlen else rlen
        if memcmp(r + lo, t + (lo - d), hi - lo) == 0:
            return True
    return False


cdef void build_filter(Ctx *ctx) noexcept nogil:
    """Choose each filtered rule's anchor and group the anchors by their first byte."""
    cdef Filter *f = &ctx.filter
    cdef int i, k, c, nfiltered
    cdef unsigned long long key, best_key
    cdef const unsigned char *s
    cdef int offsets[MAX_FILTERED]  # of each rule's anchor; -1 for one-byte rules
    memset(f, 0, sizeof(Filter))
    for i in range(ctx.nrules):
        s = <const unsigned char *>ctx.rules[i].search
        ctx.rules[i].rare = 0
        for k in range(1, <int>ctx.rules[i].slen):
            if BYTE_FREQ[s[k]] < BYTE_FREQ[s[ctx.rules[i].rare]]:
                ctx.rules[i].rare = k
    nfiltered = ctx.nrules if ctx.nrules < MAX_FILTERED else MAX_FILTERED
    for i in range(nfiltered):
        s = <const unsigned char *>ctx.rules[i].search
        f.all |= (<unsigned long long>1) << i
        offsets[i] = -1
        if ctx.rules[i].slen == 1:
            f.first[s[0]] = 1
            f.single[s[0]] |= (<unsigned long long>1) << i
            continue
        best_key = ~(<unsigned long long>0)
        for k in range(<int>ctx.rules[i].slen - 1):
            key = BYTE_FREQ[s[k]] * 65536ULL + BYTE_FREQ[s[k + 1]]
            if key < best_key:
                best_key = key
                offsets[i] = k
        f.first[s[offsets[i]]] = 1
        f.start[s[offsets[i]] + 1] += 1
    for i in range(nfiltered):
        for k in range(nfiltered):
            if may_create(&ctx.rules[i], &ctx.rules[k]):
                f.creates[i] |= (<unsigned long long>1) << k
    f.nfirsts = 0
    for c in range(256):
        if f.first[c] and WF_HAVE_SSE2:
            if f.nfirsts == 8:
                f.nfirsts = 0
                break
            memset(f.splat[f.nfirsts], c, 16)
            f.nfirsts += 1
    for c in range(256):
        f.start[c + 1] += f.start[c]
    for c in range(256):  # a counting sort of the anchors by first byte
        k = f.start[c]
        for i in range(nfiltered):
            s = <const unsigned char *>ctx.rules[i].search
            if offsets[i] >= 0 and s[offsets[i]] == c:
                f.anchors[k].second = s[offsets[i] + 1]
                f.anchors[k].rule = i
                f.anchors[k].offset = offsets[i]
                k += 1


cdef bint looks_serialized(const char *p, size_t n) noexcept nogil:
    cdef char t
    if n == 2 and p[0] == 78 and p[1] == 59:  # "N;"
        return True
    if n < 4 or p[1] != 58:
        return False
    t = p[0]
    if not (t == 97 or t == 79 or t == 115 or t == 67 or t == 69 or t == 98 or t == 105 or t == 100):
        return False
    return p[n - 1] == 59 or p[n - 1] == 125


# -- the structural rewriter -----------------------------------------------------------------------

cdef inline int read_uint(const char *d, size_t *pos, size_t end, unsigned long long *value) noexcept nogil:
    cdef size_t start = pos[0]
    cdef size_t p = start
    cdef unsigned long long v = 0
    while p < end and 48 <= d[p] <= 57:
        v = v * 10 + <unsigned long long>(d[p] - 48)
        p += 1
        if p - start > 18:
            return P_MALFORMED
    if p == start:
        return P_MALFORMED
    pos[0] = p
    value[0] = v
    return P_OK


cdef inline int expect(const char *d, size_t *pos, size_t end, const char *tok, size_t toklen) noexcept nogil:
    if pos[0] + toklen > end or memcmp(d + pos[0], tok, toklen) != 0:
        return P_MALFORMED
    pos[0] += toklen
    return P_OK


cdef inline int skip_to_semicolon(const char *d, size_t *pos, size_t end, bint floats) noexcept nogil:
    cdef size_t start = pos[0]
    cdef size_t p = start
    cdef char c
    while p < end:
        c = d[p]
        if 48 <= c <= 57 or (floats and (c == 43 or c == 45 or c == 46 or c == 101 or c == 69
                                         or c == 73 or c == 78 or c == 70 or c == 65)):
            p += 1
        else:
            break
    if p == start or p >= end or d[p] != 59:
        return P_MALFORMED
    pos[0] = p + 1
    return P_OK


cdef inline int read_int(const char *d, size_t *pos, size_t end) noexcept nogil:
    if pos[0] < end and (d[pos[0]] == 43 or d[pos[0]] == 45):
        pos[0] += 1
    return skip_to_semicolon(d, pos, end, False)


cdef inline int read_quoted(const char *d, size_t *pos, size_t end, size_t *len_end, size_t *cstart,
                            size_t *cend) noexcept nogil:
    """Read `N:"<N bytes>"` at pos; pos ends after the closing quote."""
    cdef unsigned long long length
    if read_uint(d, pos, end, &length):
        return P_MALFORMED
    len_end[0] = pos[0]
    if expect(d, pos, end, ':"', 2):
        return P_MALFORMED
    cstart[0] = pos[0]
    if length > end - pos[0] or pos[0] + length + 1 > end or d[pos[0] + length] != 34:
        return P_MALFORMED
    cend[0] = pos[0] + length
    pos[0] = cend[0] + 1
    return P_OK


cdef int structural(Ctx *ctx, const char *d, size_t n, size_t pos, size_t end, int depth,
                    Counts *local, int *status) noexcept nogil:
    """Parse d[pos:end] as one serialized value and rewrite its string values into this level's out.

    Returns P_OK or P_MALFORMED; `status` collects R_CHANGED / R_TOO_DEEP / R_NOMEM from nested strings.
    Once a nested string is too deep, the rest is still validated but no longer rewritten, so the
    outcome matches the two-phase Python twin.
    """
    cdef Level *lv = &ctx.levels[depth]
    cdef Buf *out = &lv.out
    cdef Stack *stack = &lv.stack
    cdef size_t last = 0, len_start, len_end, cstart, cend
    cdef unsigned long long count, length
    cdef bint is_key
    cdef char tag
    cdef const char *sub
    cdef size_t sub_len
    cdef int rc
    out.len = 0
    stack.len = 0
    while True:
        if stack.len:
            if stack.items[stack.len - 1] == 0:
                if expect(d, &pos, end, "}", 1):
                    return P_MALFORMED
                stack.len -= 1
                if stack.len == 0:
                    break
                continue
            is_key = stack.items[stack.len - 1] % 2 == 0
            stack.items[stack.len - 1] -= 1
        else:
            is_key = False
        if pos + 2 > end:
            return P_MALFORMED
        tag = d[pos]
        if is_key and tag != 105 and tag != 115:
            return P_MALFORMED
        if tag == 78:  # N;
            if expect(d, &pos, end, "N;", 2):
                return P_MALFORMED
        elif d[pos + 1] != 58:
            return P_MALFORMED
        elif tag == 115:  # s:
            len_start = pos + 2
            pos = len_start
            if read_quoted(d, &pos, end, &len_end, &cstart, &cend) or expect(d, &pos, end, ";", 1):
                return P_MALFORMED
            if not is_key and status[0] >= 0:
                rc = rewrite(ctx, d + cstart, cend - cstart, depth + 1, &sub, &sub_len, local)
                if rc == R_CHANGED and sub_len == cend - cstart and memcmp(sub, d + cstart, sub_len) == 0:
                    rc = R_UNCHANGED  # the rules changed it and changed it back: keep the original bytes
                if rc == R_CHANGED:
                    # Only the length digits and the content of a changed string differ from the input.
                    if (buf_put(out, d + last, len_start - last) or buf_put_uint(out, sub_len)
                            or buf_put(out, d + len_end, cstart - len_end) or buf_put(out, sub, sub_len)):
                        status[0] = R_NOMEM
                    last = cend
                    if status[0] >= 0:
                        status[0] = R_CHANGED
                elif rc < 0:
                    status[0] = rc
        elif tag == 105:  # i:
            pos += 2
            if read_int(d, &pos, end):
                return P_MALFORMED
        elif tag == 98:  # b:
            if pos + 4 > end or (d[pos + 2] != 48 and d[pos + 2] != 49) or d[pos + 3] != 59:
                return P_MALFORMED
            pos += 4
        elif tag == 100:  # d:
            pos += 2
            if skip_to_semicolon(d, &pos, end, True):
                return P_MALFORMED
        elif tag == 82 or tag == 114:  # R: r:
            if stack.len == 0:
                return P_MALFORMED
            pos += 2
            if read_int(d, &pos, end):
                return P_MALFORMED
        elif tag == 69:  # E:
            pos += 2
            if read_quoted(d, &pos, end, &len_end, &cstart, &cend) or expect(d, &pos, end, ";", 1):
                return P_MALFORMED
        elif tag == 97 or tag == 79:  # a: O:
            pos += 2
            if tag == 79:
                if read_quoted(d, &pos, end, &len_end, &cstart, &cend) or expect(d, &pos, end, ":", 1):
                    return P_MALFORMED
            if read_uint(d, &pos, end, &count):
                return P_MALFORMED
            # Each item takes at least 4 bytes; a count beyond that cannot be satisfied.
            if count > end - pos:
                return P_MALFORMED
            if expect(d, &pos, end, ":{", 2):
                return P_MALFORMED
            if stack_push(stack, <long long>(2 * count)):
                status[0] = R_NOMEM
                return P_OK
            continue
        elif tag == 67:  # C: custom payload, left as the class wrote it
            pos += 2
            if read_quoted(d, &pos, end, &len_end, &cstart, &cend) or expect(d, &pos, end, ":", 1):
                return P_MALFORMED
            if read_uint(d, &pos, end, &length) or expect(d, &pos, end, ":{", 2):
                return P_MALFORMED
            if length > end - pos:
                return P_MALFORMED
            pos += length
            if expect(d, &pos, end, "}", 1):
                return P_MALFORMED
            local.skipped_custom += 1
        else:
            return P_MALFORMED
        if stack.len == 0:
            break
    if pos != end:
        return P_MALFORMED
    if status[0] == R_CHANGED:
        if buf_put(out, d + last, n - last):
            status[0] = R_NOMEM
    return P_OK


cdef int rewrite(Ctx *ctx, const char *src, size_t n, int depth, const char **res, size_t *res_len,
                 Counts *counts) noexcept nogil:
    """Rewrite one value (serialized structurally, else plain); see _pyreplace.Core._value."""
    cdef size_t start = 0, end = n
    cdef Counts local
    cdef int status = R_UNCHANGED
    while start < end and is_ws(<unsigned char>src[start]):
        start += 1
    while end > start and is_ws(<unsigned char>src[end - 1]):
        end -= 1
    if start < end and looks_serialized(src + start, end - start):
        if depth >= C_MAX_NESTED:
            return R_TOO_DEEP
        local.replacements = 0
        local.malformed = 0
        local.skipped_custom = 0
        if structural(ctx, src, n, start, end, depth, &local, &status) == P_OK:
            if status < 0:
                return status
            counts.replacements += local.replacements
            counts.malformed += local.malformed
            counts.skipped_custom += local.skipped_custom
            if status == R_CHANGED:
                res[0] = ctx.levels[depth].out.data
                res_len[0] = ctx.levels[depth].out.len
            else:
                res[0] = src
                res_len[0] = n
            return status
        counts.malformed += 1
    return plain(ctx, src, n, depth, res, res_len, counts)


# -- SQL rendering -------------------------------------------------------------------------------------

cdef int put_quoted(Buf *b, const char *p, size_t n) noexcept nogil:
    cdef size_t i, last = 0
    cdef unsigned char e
    # Worst case doubles the length; reserving once keeps the loop free of checks.
    if buf_reserve(b, 2 * n + 2):
        return -1
    b.data[b.len] = 39
    b.len += 1
    for i in range(n):
        e = SQL_ESC[<unsigned char>p[i]]
        if e:
            memcpy(b.data + b.len, p + last, i - last)
            b.len += i - last
            b.data[b.len] = 92
            b.data[b.len + 1] = <char>e
            b.len += 2
            last = i + 1
    memcpy(b.data + b.len, p + last, n - last)
    b.len += n - last
    b.data[b.len] = 39
    b.len += 1
    return 0


cdef int put_load(Buf *b, const char *p, size_t n, bint is_null) noexcept nogil:
    """One field in LOAD DATA's default format: \\N for NULL, else the bytes with LOAD_ESC escaped."""
    cdef size_t i, last = 0
    cdef unsigned char e
    if is_null:
        return buf_put(b, "\\N", 2)
    if buf_reserve(b, 2 * n):
        return -1
    for i in range(n):
        e = LOAD_ESC[<unsigned char>p[i]]
        if e:
            memcpy(b.data + b.len, p + last, i - last)
            b.len += i - last
            b.data[b.len] = 92
            b.data[b.len + 1] = <char>e
            b.len += 2
            last = i + 1
    memcpy(b.data + b.len, p + last, n - last)
    b.len += n - last
    return 0


cdef int put_hex(Buf *b, const char *p, size_t n) noexcept nogil:
    cdef size_t i
    cdef unsigned char c
    if n == 0:
        return buf_put(b, "''", 2)
    if buf_reserve(b, 2 * n + 2):
        return -1
    b.data[b.len] = 48
    b.data[b.len + 1] = 120
    b.len += 2
    for i in range(n):
        c = <unsigned char>p[i]
        b.data[b.len] = HEX[c >> 4]
        b.data[b.len + 1] = HEX[c & 15]
        b.len += 2
    return 0


cdef unsigned long crc_of(const char *p, size_t n) noexcept nogil:
    cdef unsigned long c = crc32(0, NULL, 0)
    cdef unsigned int step
    while n:
        step = <unsigned int>(n if n < (1u << 30) else (1u << 30))
        c = crc32(c, <const unsigned char *>p, step)
        p += step
        n -= step
    return c


cdef int put_value(Buf *b, const char *p, size_t n, bint is_null, char kind) noexcept nogil:
    if is_null:
        return buf_put(b, "NULL", 4)
    if kind == 78:  # N: number, as the server printed it
        return buf_put(b, p, n)
    if kind == 88:  # X: hex literal
        return put_hex(b, p, n)
    return put_quoted(b, p, n)


cdef class Core:
    """Apply compiled rules to values and rows; keeps running statistics. Not thread-safe."""

    cdef Ctx ctx
    cdef list _keep
    cdef long long _stats[6]

    def __cinit__(self):
        self.ctx.rules = NULL
        self.ctx.nrules = 0
        cdef int i
        for i in range(C_MAX_NESTED + 1):
            self.ctx.levels[i].a.data = NULL
            self.ctx.levels[i].a.len = self.ctx.levels[i].a.cap = 0
            self.ctx.levels[i].b.data = NULL
            self.ctx.levels[i].b.len = self.ctx.levels[i].b.cap = 0
            self.ctx.levels[i].out.data = NULL
            self.ctx.levels[i].out.len = self.ctx.levels[i].out.cap = 0
            self.ctx.levels[i].stack.items = NULL
            self.ctx.levels[i].stack.len = self.ctx.levels[i].stack.cap = 0
        for i in range(6):
            self._stats[i] = 0

    def __init__(self, rules):
        cdef int i, j
        cdef CRule *r
        rules = [(bytes(s), bytes(rp), int(f), tuple(bytes(x) for x in e)) for s, rp, f, e in rules]
        for rule in rules:
            if not rule[0]:
                raise ValueError("search strings must be non-empty")
        self._keep = rules  # owns every buffer the C rules point into
        self.ctx.rules = <CRule *>calloc(max(len(rules), 1), sizeof(CRule))
        if self.ctx.rules == NULL:
            raise MemoryError()
        self.ctx.nrules = len(rules)
        for i, (search, repl, flags, excludes) in enumerate(rules):
            r = &self.ctx.rules[i]
            r.search = PyBytes_AS_STRING(search)
            r.slen = PyBytes_GET_SIZE(search)
            r.repl = PyBytes_AS_STRING(repl)
            r.rlen = PyBytes_GET_SIZE(repl)
            r.flags = flags
            r.nex = len(excludes)
            if r.nex:
                r.ex = <const char **>calloc(r.nex, sizeof(char *))
                r.exlen = <size_t *>calloc(r.nex, sizeof(size_t))
                if r.ex == NULL or r.exlen == NULL:
                    raise MemoryError()
                for j, host in enumerate(excludes):
                    r.ex[j] = PyBytes_AS_STRING(host)
                    r.exlen[j] = PyBytes_GET_SIZE(host)
        build_filter(&self.ctx)

    def __dealloc__(self):
        cdef int i
        if self.ctx.rules != NULL:
            for i in range(self.ctx.nrules):
                free(self.ctx.rules[i].ex)
                free(self.ctx.rules[i].exlen)
            free(self.ctx.rules)
        for i in range(C_MAX_NESTED + 1):
            buf_free(&self.ctx.levels[i].a)
            buf_free(&self.ctx.levels[i].b)
            buf_free(&self.ctx.levels[i].out)
            free(self.ctx.levels[i].stack.items)

    @property
    def stats(self):
        """Counters in STAT_NAMES order since creation (or the last reset)."""
        return tuple(self._stats[i] for i in range(6))

    def reset_stats(self):
        """Set every counter back to zero."""
        cdef int i
        for i in range(6):
            self._stats[i] = 0

    cdef int _value(self, const char *p, size_t n, const char **res, size_t *res_len) noexcept nogil:
        """Rewrite one top-level value and account for it in the statistics."""
        cdef Counts counts
        cdef int rc
        counts.replacements = 0
        counts.malformed = 0
        counts.skipped_custom = 0
        self._stats[0] += 1
        rc = rewrite(&self.ctx, p, n, 0, res, res_len, &counts)
        if rc == R_TOO_DEEP:
            self._stats[5] += 1
            res[0] = p
            res_len[0] = n
            return R_UNCHANGED
        if rc == R_NOMEM:
            return rc
        self._stats[2] += counts.replacements
        self._stats[3] += counts.malformed
        self._stats[4] += counts.skipped_custom
        if rc == R_CHANGED and (res_len[0] != n or memcmp(res[0], p, n) != 0):
            self._stats[1] += 1
            return R_CHANGED
        res[0] = p
        res_len[0] = n
        return R_UNCHANGED

    def replace(self, bytes value not None):
        """Return `value` with the rules applied; the same object when nothing changed."""
        cdef const char *p = PyBytes_AS_STRING(value)
        cdef size_t n = PyBytes_GET_SIZE(value)
        cdef const char *res
        cdef size_t res_len
        cdef int rc
        with nogil:
            rc = self._value(p, n, &res, &res_len)
        if rc == R_NOMEM:
            raise MemoryError()
        if rc == R_UNCHANGED:
            return value
        return PyBytes_FromStringAndSize(res, res_len)

    def render_rows(self, rows, bytes kinds not None, Py_ssize_t max_chunk, bint with_original,
                    bint with_load=False):
        """Render rows as SQL tuple lists `(...),(...)`; see _pyreplace.Core.render_rows."""
        cdef Py_ssize_t ncols = PyBytes_GET_SIZE(kinds)
        cdef Py_ssize_t nrows = len(rows)
        cdef Py_ssize_t total = nrows * ncols
        cdef const char **ptrs = NULL
        cdef size_t *lens = NULL
        cdef size_t *ends = NULL
        cdef size_t *orig_ends = NULL
        cdef size_t *load_ends = NULL
        cdef Py_ssize_t *chunk_rows = NULL
        cdef const char *kp = PyBytes_AS_STRING(kinds)
        cdef Buf out, orig, row, orow, lout, lrow
        cdef Py_ssize_t i, c, k, nchunks = 0, in_chunk = 0
        cdef unsigned long long checksum = 0
        cdef unsigned long rowcrc
        cdef const char *res
        cdef size_t res_len, start, ostart, lstart
        cdef int failed = 0
        cdef char numbuf[24]
        cdef Buf crcs
        out.data = orig.data = row.data = orow.data = crcs.data = NULL
        out.len = orig.len = row.len = orow.len = crcs.len = 0
        out.cap = orig.cap = row.cap = orow.cap = crcs.cap = 0
        lout.data = lrow.data = NULL
        lout.len = lrow.len = lout.cap = lrow.cap = 0
        keep = []
        try:
            ptrs = <const char **>malloc(max(total, 1) * sizeof(char *))
            lens = <size_t *>malloc(max(total, 1) * sizeof(size_t))
            ends = <size_t *>malloc((nrows + 1) * sizeof(size_t))
            orig_ends = <size_t *>malloc((nrows + 1) * sizeof(size_t))
            load_ends = <size_t *>malloc((nrows + 1) * sizeof(size_t))
            chunk_rows = <Py_ssize_t *>malloc((nrows + 1) * sizeof(Py_ssize_t))
            if ptrs == NULL or lens == NULL or ends == NULL or orig_ends == NULL or load_ends == NULL or chunk_rows == NULL:
                raise MemoryError()
            # Under the GIL: only collect pointers to the values' bytes.
            k = 0
            for r in rows:
                if len(r) != ncols:
                    raise ValueError("every row must have one value per column kind")
                for c in range(ncols):
                    v = r[c]
                    if v is None:
                        ptrs[k] = NULL
                        lens[k] = 0
                    elif type(v) is bytes:
                        ptrs[k] = PyBytes_AS_STRING(v)
                        lens[k] = PyBytes_GET_SIZE(v)
                    elif type(v) is bytearray:
                        ptrs[k] = PyByteArray_AS_STRING(v)
                        lens[k] = PyByteArray_GET_SIZE(v)
                    else:
                        v = bytes(v)
                        keep.append(v)
                        ptrs[k] = PyBytes_AS_STRING(v)
                        lens[k] = PyBytes_GET_SIZE(v)
                    k += 1
            # Without the GIL: rewrite, render and checksum the whole batch.
            with nogil:
                start = 0
                ostart = 0
                for i in range(nrows):
                    row.len = 0
                    orow.len = 0
                    lrow.len = 0
                    crcs.len = 0
                    if buf_put(&row, "(", 1):
                        failed = 1
                        break
                    if with_original and buf_put(&orow, "(", 1):
                        failed = 1
                        break
                    for c in range(ncols):
                        k = i * ncols + c
                        if c and (buf_put(&row, ",", 1) or buf_put(&crcs, ",", 1)):
                            failed = 1
                            break
                        if with_original and c and buf_put(&orow, ",", 1):
                            failed = 1
                            break
                        if with_load and c and buf_put(&lrow, "\t", 1):
                            failed = 1
                            break
                        res = ptrs[k]
                        res_len = lens[k]
                        if ptrs[k] != NULL and kp[c] == 84:
                            if self._value(ptrs[k], lens[k], &res, &res_len) == R_NOMEM:
                                failed = 1
                                break
                        if put_value(&row, res, res_len, ptrs[k] == NULL, kp[c]):
                            failed = 1
                            break
                        if with_load and put_load(&lrow, res, res_len, ptrs[k] == NULL):
                            failed = 1
                            break
                        if ptrs[k] == NULL:
                            if buf_put(&crcs, "N", 1):
                                failed = 1
                                break
                        elif buf_put_uint(&crcs, crc_of(res, res_len)):
                            failed = 1
                            break
                        if with_original and put_value(&orow, ptrs[k], lens[k], ptrs[k] == NULL, kp[c]):
                            failed = 1
                            break
                    if failed:
                        break
                    if buf_put(&row, ")", 1) or (with_original and buf_put(&orow, ")", 1)) or (
                            with_load and buf_put(&lrow, "\n", 1)):
                        failed = 1
                        break
                    checksum += crc_of(crcs.data, crcs.len)
                    # Close the current chunk when this row would push it past max_chunk.
                    if in_chunk and out.len - start + 1 + row.len > <size_t>max_chunk:
                        ends[nchunks] = out.len
                        orig_ends[nchunks] = orig.len
                        load_ends[nchunks] = lout.len
                        chunk_rows[nchunks] = in_chunk
                        nchunks += 1
                        in_chunk = 0
                        start = out.len
                        ostart = orig.len
                    if in_chunk and (buf_put(&out, ",", 1) or (with_original and buf_put(&orig, ",", 1))):
                        failed = 1
                        break
                    if buf_put(&out, row.data, row.len) or (with_original and buf_put(&orig, orow.data, orow.len)):
                        failed = 1
                        break
                    if with_load and buf_put(&lout, lrow.data, lrow.len):
                        failed = 1
                        break
                    in_chunk += 1
                if not failed and in_chunk:
                    ends[nchunks] = out.len
                    orig_ends[nchunks] = orig.len
                    load_ends[nchunks] = lout.len
                    chunk_rows[nchunks] = in_chunk
                    nchunks += 1
            if failed:
                raise MemoryError()
            chunks = []
            originals = [] if with_original else None
            loads = [] if with_load else None
            counts = []
            start = 0
            ostart = 0
            lstart = 0
            for i in range(nchunks):
                chunks.append(PyBytes_FromStringAndSize(out.data + start, ends[i] - start))
                if with_original:
                    originals.append(PyBytes_FromStringAndSize(orig.data + ostart, orig_ends[i] - ostart))
                if with_load:
                    loads.append(PyBytes_FromStringAndSize(lout.data + lstart, load_ends[i] - lstart))
                counts.append(chunk_rows[i])
                start = ends[i]
                ostart = orig_ends[i]
                lstart = load_ends[i]
            return chunks, originals, counts, checksum, loads
        finally:
            free(ptrs)
            free(lens)
            free(ends)
            free(orig_ends)
            free(load_ends)
            free(chunk_rows)
            buf_free(&out)
            buf_free(&orig)
            buf_free(&row)
            buf_free(&orow)
            buf_free(&crcs)
            buf_free(&lout)
            buf_free(&lrow)
