/* Record encoding with jansson: exact key order and compact separators, so
 * the bytes are stable across restarts and equal to what nerve writes. */
#include "sidecar/backend/record.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

char *record_json(const struct check_spec *spec)
{
    return record_json_labels(spec, spec->labels, spec->nlabels);
}

char *record_json_labels(const struct check_spec *spec, const struct kv *kvs, size_t nkvs)
{
    json_t *labels = json_object();
    json_t *o = json_pack("{s:s, s:i, s:s, s:i}", "host", spec->host, "port", spec->port, "name",
                          spec->instance_id, "weight", spec->weight);
    char *out = NULL;
    if (!o || !labels)
        goto done;
    for (size_t i = 0; i < nkvs; i++)
        if (json_object_set_new(labels, kvs[i].key, json_string(kvs[i].value ? kvs[i].value : "")))
            goto done;
    if (json_object_set(o, "labels", labels) != 0)
        goto done;
    out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    /* jansson's dump does not check the writing of an object's key, so out
     * of memory it can return a record with a key missing ("port":1,:"id").
     * Only a record that reads back as the same object goes out. */
    if (out) {
        json_t *back = json_loads(out, 0, NULL);
        if (!json_equal(back, o)) {
            free(out);
            out = NULL;
        }
        json_decref(back);
    }
done:
    json_decref(labels);
    json_decref(o);
    return out;
}

char *record_node(const struct check_spec *spec)
{
    char *s = NULL;
    if (asprintf(&s, "%s_%d", spec->instance_id, spec->port) < 0)
        return NULL;
    return s;
}
