/* A trivial dtm plugin (ABI v1) for benchmarks, written against docs/plugin-abi.md alone.
 * Its name comes from the build: cc -shared -fPIC -DPLUGIN_NAME='"bench-p01"' ...
 * It carries PAD_BYTES of data so that its library is as large as a typical Rust plugin build
 * and verifying its hash costs what it would for a real plugin. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef PLUGIN_NAME
#error "define PLUGIN_NAME, e.g. -DPLUGIN_NAME='\"bench-p01\"'"
#endif
#ifndef PAD_BYTES
#define PAD_BYTES (6 * 1024 * 1024)
#endif

typedef struct { uint8_t *ptr; size_t len; size_t cap; } DtmBuffer;
typedef struct {
    uint32_t abi_version;
    void *ctx;
    void (*log)(void *ctx, uint32_t level, const uint8_t *msg, size_t len);
    void (*progress)(void *ctx, int32_t percent, const uint8_t *msg, size_t len);
    int32_t (*cancelled)(void *ctx);
} DtmHost;

/* Non-zero so that it is stored in the file, not just reserved at load. */
__attribute__((used)) static const unsigned char PAD[PAD_BYTES] = {1};

static int32_t answer(DtmBuffer *out, const char *text) {
    size_t len = strlen(text);
    uint8_t *ptr = malloc(len ? len : 1);
    if (ptr == NULL) { out->ptr = NULL; out->len = out->cap = 0; return 1; }
    memcpy(ptr, text, len);
    out->ptr = ptr; out->len = len; out->cap = len;
    return 0;
}

uint32_t dtm_plugin_abi_version(void) { return 1u << 16; }

int32_t dtm_plugin_manifest(DtmBuffer *out) {
    char m[512];
    snprintf(m, sizeof m,
             "{\"name\":\"%s\",\"version\":\"0.1.0\",\"abi_version\":65536,"
             "\"description\":\"benchmark plugin\",\"options_schema\":{\"type\":\"object\"},"
             "\"outputs\":[]}", PLUGIN_NAME);
    return answer(out, m);
}

int32_t dtm_plugin_call(const DtmHost *host, const uint8_t *req, size_t len, DtmBuffer *out) {
    (void)host; (void)req; (void)len;
    /* Every operation succeeds with the same status, so a read never reports drift. */
    return answer(out, "{\"result\":\"done\",\"status\":{\"ok\":true}}");
}

void dtm_plugin_free(uint8_t *ptr, size_t len, size_t cap) { (void)len; (void)cap; free(ptr); }
