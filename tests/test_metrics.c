/* GET /metrics (sidecar/admin/metrics.c) over the admin fixture's view: label values escaped as
 * the exposition format says whatever a registration is called, histograms cumulative and ending
 * in +Inf = _count, the new families present. tests/e2e/main_metrics.sh parses a real scrape
 * with python3-prometheus-client's parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sidecar/admin/metrics.h"
#include "tests/admin_fixture.h"

static char *escaped(const char *s)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    metrics_label_escape(f, s);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static void test_escape(void **state)
{
    const char *in[] = {"svc.main", "a\"b", "a\\b", "a\nb", "\\\"\n", "", "é\tx"};
    const char *want[] = {"svc.main", "a\\\"b", "a\\\\b", "a\\nb", "\\\\\\\"\\n", "", "é\tx"};
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        char *got = escaped(in[i]);
        assert_string_equal(got, want[i]);
        free(got);
    }
}

static char *render(struct afx *f)
{
    char *body = NULL;
    size_t len = 0;
    assert_int_equal(metrics_render(&f->view, &body, &len), 200);
    assert_non_null(body);
    assert_int_equal(strlen(body), len);
    return body;
}

static void expect(const char *body, const char *needle)
{
    if (!strstr(body, needle))
        fail_msg("'%s' not in /metrics:\n%s", needle, body);
}

/* Names a registration cannot have in practice still leave every line one
 * sample: no raw newline or quote inside a label value. */
static void test_hostile_names(void **state)
{
    struct afx *f = afx_new(3, 2);
    snprintf(f->checks[0].name, sizeof(f->checks[0].name), "q\"uote");
    snprintf(f->checks[1].name, sizeof(f->checks[1].name), "back\\slash");
    snprintf(f->checks[2].name, sizeof(f->checks[2].name), "new\nline");
    char *body = render(f);
    expect(body, "meshreg_check_up{name=\"q\\\"uote\"} 1\n");
    expect(body, "meshreg_check_up{name=\"back\\\\slash\"} 1\n");
    expect(body, "meshreg_check_up{name=\"new\\nline\"} 1\n");
    expect(body, "meshreg_probes_total{name=\"new\\nline\",result=\"pass\"} 1\n");
    /* every line is a comment or "name{...} value" / "name value" */
    for (char *line = body, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        assert_non_null(nl);
        if (*line == '#')
            continue;
        char *sp = memchr(line, ' ', (size_t)(nl - line));
        assert_non_null(sp);
        assert_true(sp[1] >= '0' && sp[1] <= '9');
        assert_false(line[0] == '"' || line[0] == ' ');
    }
    free(body);
    afx_free(f);
}

static void test_families(void **state)
{
    struct afx *f = afx_new(1, 2);
    f->probe_counts[2][0] = 3; /* tcp: 3 at or under 10 ms, */
    f->probe_counts[2][1] = 1; /* 1 at or under 100 ms, */
    f->probe_counts[2][2] = 2; /* 2 above */
    f->stats.kinds[2].duration.count = 6;
    f->stats.kinds[2].duration.sum = 1.5;
    f->stats.kinds[2].pass = 5;
    f->stats.kinds[2].timeout = 1;
    f->backend_counts[1][0] = 4;
    f->stats.backend_ops[1].ok = 3;
    f->stats.backend_ops[1].failed = 1;
    f->stats.backend_ops[1].duration.count = 4;
    f->stats.reloads_ok = 2;
    f->stats.reloads_rejected = 1;
    f->stats.config_generation = 3;
    f->stats.last_reload = "rejected";
    char *body = render(f);
    expect(body, "meshreg_build_info{version=\"");
    expect(body, "# TYPE meshreg_probe_duration_seconds histogram\n");
    expect(body, "meshreg_probe_duration_seconds_bucket{kind=\"tcp\",le=\"0.01\"} 3\n");
    expect(body, "meshreg_probe_duration_seconds_bucket{kind=\"tcp\",le=\"0.1\"} 4\n");
    expect(body, "meshreg_probe_duration_seconds_bucket{kind=\"tcp\",le=\"+Inf\"} 6\n");
    expect(body, "meshreg_probe_duration_seconds_sum{kind=\"tcp\"} 1.500000\n");
    expect(body, "meshreg_probe_duration_seconds_count{kind=\"tcp\"} 6\n");
    expect(body, "meshreg_probe_duration_seconds_count{kind=\"grpc\"} 0\n");
    expect(body, "meshreg_probe_results_total{kind=\"tcp\",outcome=\"timeout\"} 1\n");
    expect(body, "meshreg_backend_operations_total{op=\"delete\",result=\"failed\"} 1\n");
    expect(body, "meshreg_backend_operation_duration_seconds_bucket{op=\"delete\",le=\"+Inf\"} 4\n");
    expect(body, "meshreg_reloads_total{result=\"rejected\"} 1\n");
    expect(body, "meshreg_config_generation 3\n");
    expect(body, "meshreg_last_reload_success 0\n");
    expect(body, "meshreg_check_drained{name=\"svc.main\"} 0\n");
    /* the probe histogram is per kind: no name label on it */
    assert_null(strstr(body, "meshreg_probe_duration_seconds_bucket{name="));
    free(body);
    afx_free(f);
}

/* smartstack: each cluster's problem and client certificate expiry carry its
 * name; a healthy cluster has no problem series, a cluster without a
 * certificate no expiry series. */
static const char *const mc_names[] = {"norcal-prod", "nova\"prod", "pnw-prod"};
static const char *const mc_problems[] = {NULL, "not authenticated", "cannot connect"};

static void mc_cluster(const void *owner, size_t c, struct admin_view_backend *out)
{
    memset(out, 0, sizeof(*out));
    out->name = mc_names[c];
    out->multi_cluster = true;
    out->clusters = 1;
    out->uri = "zk://127.0.0.1:2181/smartstack/global";
    out->type = "zk";
    out->state = mc_problems[c] ? "disconnected" : "connected";
    out->connected = !mc_problems[c];
    out->detail = out->last_error = "";
    out->problem = mc_problems[c];
    out->tls_cert_expires = c == 1 ? 1900000000 : 0;
}

static void mc_backend(const void *owner, struct admin_view_backend *out)
{
    memset(out, 0, sizeof(*out));
    out->multi_cluster = true;
    out->clusters = 3;
    out->uri = "smartstack";
    out->type = "smartstack";
    out->state = "disconnected";
    out->detail = out->last_error = "";
}

static void test_cluster_problems(void **state)
{
    struct afx *f = afx_new(1, 2);
    struct admin_view_ops ops = *f->view.ops;
    ops.backend = mc_backend;
    ops.cluster = mc_cluster;
    f->view.ops = &ops;
    char *body = render(f);
    expect(body, "# TYPE meshreg_backend_problem gauge\n");
    expect(body,
           "meshreg_backend_problem{cluster=\"nova\\\"prod\",problem=\"not authenticated\"} 1\n");
    expect(body, "meshreg_backend_problem{cluster=\"pnw-prod\",problem=\"cannot connect\"} 1\n");
    assert_null(strstr(body, "meshreg_backend_problem{cluster=\"norcal-prod\""));
    assert_null(strstr(body, "meshreg_backend_problem{problem="));
    expect(body,
           "meshreg_backend_tls_client_cert_expiry_seconds{cluster=\"nova\\\"prod\"} 1900000000\n");
    assert_null(
        strstr(body, "meshreg_backend_tls_client_cert_expiry_seconds{cluster=\"norcal-prod\""));
    /* one HELP/TYPE per family */
    char *t = strstr(body, "# TYPE meshreg_backend_problem gauge\n");
    assert_null(strstr(t + 1, "# TYPE meshreg_backend_problem gauge\n"));
    expect(body, "meshreg_backend_connected{cluster=\"pnw-prod\"} 0\n");
    free(body);
    afx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_hostile_names),
        cmocka_unit_test(test_families),
        cmocka_unit_test(test_cluster_problems),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
