/* Runs the fuzz harness once on each file named (a corpus, or a crash
 * libFuzzer saved), without libFuzzer: make test replays the seed corpus
 * this way under ASan and UBSan.
 *
 * With --seconds S [--seed N] it then keeps going for S seconds on
 * mutants of those files (a bit flipped, a byte set, a range cut, doubled
 * or cut short, random bytes put in, two inputs spliced), the same
 * sequence for the same seed: a small fuzzer for compilers without
 * libFuzzer, so make test explores beyond the seeds. When the harness
 * dies, the input it died on is saved as ./replay-crash (and named on
 * stderr) so it can be replayed. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MUTANT_MAX 65536

struct input
{
    uint8_t *data;
    size_t size;
};

/* The input being run, for the crash handler. */
static const uint8_t *current;
static size_t current_size;

static void save_current(void)
{
    int fd = open("replay-crash", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        ssize_t w = write(fd, current, current_size);
        (void)w;
        close(fd);
    }
    static const char msg[] =
        "replay: the input that failed is in "
        "./replay-crash\n";
    ssize_t w = write(2, msg, sizeof(msg) - 1);
    (void)w;
}

static void on_fatal(int sig)
{
    save_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ASan and UBSan call this before they exit. */
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

static void run(const uint8_t *data, size_t size)
{
    current = data;
    current_size = size;
    LLVMFuzzerTestOneInput(data, size);
}

static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static size_t below(uint64_t *s, size_t n)
{
    return n == 0 ? 0 : (size_t)(next(s) % n);
}

/* One mutant of in (another input for splicing) into out; its size. */
static size_t mutate(uint64_t *s,
                     const struct input *in,
                     const struct input *other,
                     uint8_t *out)
{
    size_t n = in->size < MUTANT_MAX ? in->size : MUTANT_MAX;
    int rounds = 1 + (int)below(s, 4);

    memcpy(out, in->data, n);
    while (rounds-- > 0) {
        size_t at = below(s, n + 1), len = 1 + below(s, 16);
        switch (below(s, 7)) {
            case 0: /* flip a bit */
                if (n > 0) {
                    out[below(s, n)] ^= (uint8_t)(1u << below(s, 8));
                }
                break;
            case 1: /* set a byte to an edge value or a random one */
                if (n > 0) {
                    static const uint8_t edges[] = {0, 1, 0x7f, 0x80, 0xff};
                    out[below(s, n)] = below(s, 2)
                                           ? edges[below(s, sizeof(edges))]
                                           : (uint8_t)next(s);
                }
                break;
            case 2: /* cut a range */
                if (at < n) {
                    len = len < n - at ? len : n - at;
                    memmove(out + at, out + at + len, n - at - len);
                    n -= len;
                }
                break;
            case 3: /* double a range */
                if (at < n && n + len <= MUTANT_MAX) {
                    len = len < n - at ? len : n - at;
                    memmove(out + at + len, out + at, n - at);
                    n += len;
                }
                break;
            case 4: /* cut short */
                n = below(s, n + 1);
                break;
            case 5: /* put random bytes in */
                if (n + len <= MUTANT_MAX) {
                    memmove(out + at + len, out + at, n - at);
                    for (size_t k = 0; k < len; k++) {
                        out[at + k] = (uint8_t)next(s);
                    }
                    n += len;
                }
                break;
            default: /* splice: our head, the other input's tail */
                if (other->size > 0) {
                    size_t from = below(s, other->size);
                    size_t take = other->size - from;
                    if (at + take > MUTANT_MAX) {
                        take = MUTANT_MAX - at;
                    }
                    memcpy(out + at, other->data + from, take);
                    n = at + take;
                }
                break;
        }
    }
    return n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    struct input *inputs = calloc((size_t)argc, sizeof(*inputs));
    size_t n_inputs = 0;
    double seconds = 0;
    uint64_t seed = 1;

    if (inputs == NULL) {
        return 2;
    }
    signal(SIGSEGV, on_fatal);
    signal(SIGABRT, on_fatal);
    signal(SIGBUS, on_fatal);
    signal(SIGFPE, on_fatal);
    if (__sanitizer_set_death_callback != NULL) {
        __sanitizer_set_death_callback(save_current);
    }
    for (int i = 1; i < argc; i++) {
        FILE *f;
        long n;

        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = atof(argv[++i]);
            continue;
        }
        if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 10);
            continue;
        }
        f = fopen(argv[i], "rb");
        if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) {
            fprintf(stderr, "replay: cannot read %s\n", argv[i]);
            return 2;
        }
        rewind(f);
        inputs[n_inputs].data = malloc((size_t)n + 1);
        if (inputs[n_inputs].data == NULL ||
            fread(inputs[n_inputs].data, 1, (size_t)n, f) != (size_t)n) {
            fprintf(stderr, "replay: cannot read %s\n", argv[i]);
            return 2;
        }
        fclose(f);
        inputs[n_inputs].size = (size_t)n;
        run(inputs[n_inputs].data, inputs[n_inputs].size);
        printf("replay: %s (%ld bytes) ok\n", argv[i], n);
        n_inputs++;
    }
    if (seconds > 0 && n_inputs > 0) {
        uint8_t *out = malloc(MUTANT_MAX);
        uint64_t s = seed, runs = 0;
        double end = now_s() + seconds;
        if (out == NULL) {
            return 2;
        }
        while (now_s() < end) {
            for (int k = 0; k < 64; k++) {
                const struct input *in = &inputs[below(&s, n_inputs)];
                const struct input *other = &inputs[below(&s, n_inputs)];
                size_t n = mutate(&s, in, other, out);
                run(out, n);
                runs++;
            }
        }
        printf(
            "replay: %llu mutants of %zu inputs in %.0f s (seed %llu), "
            "none failed\n",
            (unsigned long long)runs, n_inputs, seconds,
            (unsigned long long)seed);
        free(out);
    }
    for (size_t i = 0; i < n_inputs; i++) {
        free(inputs[i].data);
    }
    free(inputs);
    return 0;
}
