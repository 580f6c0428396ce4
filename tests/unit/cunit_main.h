/* Shared runner for the CUnit suites: each test program defines
 * vst_register_tests() and links cunit_main.c, which runs every suite in
 * verbose mode, prints CUnit's summary and exits non-zero on any failure. */
#ifndef VST_CUNIT_MAIN_H
#define VST_CUNIT_MAIN_H

#include <CUnit/CUnit.h>

/* Adds the program's suites to the registry; returns 0 or a CUnit error. */
int vst_register_tests(void);

/* Path of a file under the source tree (VST_SOURCE_DIR, else the compile-time
 * source directory). Returns a static buffer. */
const char *vst_src_path(const char *rel);

#define VST_ADD_SUITE(title, tests)                                                                \
    do {                                                                                           \
        CU_pSuite s_ = CU_add_suite(title, NULL, NULL);                                            \
        if (s_ == NULL)                                                                            \
            return CU_get_error();                                                                 \
        for (size_t i_ = 0; tests[i_].name != NULL; i_++)                                          \
            if (CU_add_test(s_, tests[i_].name, tests[i_].fn) == NULL)                             \
                return CU_get_error();                                                             \
    } while (0)

typedef struct {
    const char *name;
    CU_TestFunc fn;
} vst_test;

#endif
