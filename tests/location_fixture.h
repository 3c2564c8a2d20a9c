/* A PaaSTA host layout in the test's scratch directory (tests/test_config_util.h):
 * location_types.json and location_mapping.json with two ecosystems, for
 * test_location and test_placement.
 *
 *   prod (ecosystem)
 *     norcal-prod (superregion)
 *       uswest1-prod (region): uswest1aprod, uswest1bprod, shared (habitats)
 *       uswest2-prod (region): uswest2aprod, shared
 *     nova-prod (superregion)
 *       useast1-prod (region): useast1aprod, useast1bprod
 *   devc (ecosystem)
 *     norcal-devc (superregion)
 *       uswest1-devc (region): uswest1cdevc, devc (a habitat named like its ecosystem)
 *
 * "shared" sits under two regions: the mapping is a DAG, as environment_tools
 * allows. */
#ifndef MESHREG_TEST_LOCATION_FIXTURE_H
#define MESHREG_TEST_LOCATION_FIXTURE_H

#include "tests/test_config_util.h"

static const char *const fixture_types =
    "[\"ecosystem\", \"superregion\", \"region\", \"habitat\"]\n";

static const char *const fixture_mapping =
    "{\n"
    "  \"prod_ecosystem\": {\n"
    "    \"norcal-prod_superregion\": {\n"
    "      \"uswest1-prod_region\": {\"uswest1aprod_habitat\": {}, \"uswest1bprod_habitat\": {},\n"
    "                              \"shared_habitat\": {}},\n"
    "      \"uswest2-prod_region\": {\"uswest2aprod_habitat\": {}, \"shared_habitat\": {}}\n"
    "    },\n"
    "    \"nova-prod_superregion\": {\n"
    "      \"useast1-prod_region\": {\"useast1aprod_habitat\": {}, \"useast1bprod_habitat\": {}}\n"
    "    }\n"
    "  },\n"
    "  \"devc_ecosystem\": {\n"
    "    \"norcal-devc_superregion\": {\n"
    "      \"uswest1-devc_region\": {\"uswest1cdevc_habitat\": {}, \"devc_habitat\": {}}\n"
    "    }\n"
    "  }\n"
    "}\n";

/* Writes the hierarchy under tdir/etc/services and this host's location files
 * (a host in habitat uswest1aprod). Returns tdir/etc. */
static __attribute__((unused)) const char *put_host_layout(void)
{
    put("etc/services/location_types.json", fixture_types);
    put("etc/services/location_mapping.json", fixture_mapping);
    put("etc/ecosystem", "prod\n");
    put("etc/superregion", "norcal-prod\n");
    put("etc/region", "  uswest1-prod \n\n");
    put("etc/habitat", "uswest1aprod");
    return tpath("etc");
}

#endif
