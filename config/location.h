/* The host's location database, read the way a PaaSTA host lays it out
 * (README "PaaSTA host layout"):
 * - the host's location of each type: <etc_dir>/<type>, one line, trimmed;
 *   overridden by the config file's `locations:` map, itself overridden by
 *   MESHREG_LOCATION_<TYPE> (env > config > files);
 * - the location types, most general first (location_types.json, a JSON list)
 *   and the hierarchy (location_mapping.json, nested objects keyed "LOC_TYPE"),
 *   each looked up in <etc_dir>/services/ first, then /usr/share/yelp_location/,
 *   as Yelp's environment_tools does.
 * A host without any of these files gets an empty database: locations come
 * from env/config only and there is no hierarchy to convert through. */
#ifndef MESHREG_LOCATION_H
#define MESHREG_LOCATION_H

#include <stdbool.h>
#include <stddef.h>

struct settings;
struct location_db;

/* Where location_*.json are looked up after <etc_dir>/services/. */
#define LOCATION_DATA_DIR "/usr/share/yelp_location"

/* Loads the database. s may be NULL (files only). A malformed file (bad JSON,
 * wrong shape, a location file that is not one name on one line, an unreadable
 * file) gives NULL with err naming the file; absent files are not an error. */
struct location_db *location_db_load(const char *etc_dir, const struct settings *s, char *err,
                                     size_t errlen);
void location_db_free(struct location_db *db);

/* This host's location of `type` (env > config > <etc_dir>/<type>), or NULL. */
const char *location_db_host(const struct location_db *db, const char *type);
/* Where the winning value of location_db_host came from: "MESHREG_LOCATION_X",
 * "locations:" or the file's path; NULL when unknown. */
const char *location_db_host_origin(const struct location_db *db, const char *type);

/* True when both location_types.json and location_mapping.json were found. */
bool location_db_has_hierarchy(const struct location_db *db);
/* Position of type in location_types.json (0 = most general), -1 if absent. */
int location_db_type_index(const struct location_db *db, const char *type);
/* The files read, for messages ("" when absent). */
const char *location_db_etc_dir(const struct location_db *db);
const char *location_db_types_file(const struct location_db *db);
const char *location_db_mapping_file(const struct location_db *db);

/* environment_tools' convert_location_type: the locations of dst_type
 * connected to loc (of src_type): its ancestors when dst_type is more general,
 * its descendants otherwise (itself for the same type); sorted, unique. *out
 * is a NULL-terminated array owned by the caller (location_list_free). An
 * unknown type or location, or no hierarchy, is -1 with err set. */
int location_convert(const struct location_db *db, const char *loc, const char *src_type,
                     const char *dst_type, char ***out, size_t *nout, char *err, size_t errlen);
void location_list_free(char **list);

#endif
