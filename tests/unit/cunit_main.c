/* main() for every CUnit test program; see cunit_main.h. */
#include "cunit_main.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/secmem.h"

const char *vst_src_path(const char *rel)
{
    static char buf[4096];
    const char *root = getenv("VST_SOURCE_DIR");
    snprintf(buf, sizeof buf, "%s/%s", root ? root : ".", rel);
    return buf;
}

/* VST_CUNIT_ONLY=text runs only the tests whose name contains text (for
 * working on one test; CTest runs everything). */
static void only(const char *text)
{
    for (CU_pSuite s = CU_get_registry()->pSuite; s != NULL; s = s->pNext)
        for (CU_pTest t = s->pTest; t != NULL; t = t->pNext)
            CU_set_test_active(t, strstr(t->pName, text) != NULL ? CU_TRUE : CU_FALSE);
}

int main(void)
{
    vst_secmem_install_json();
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    if (vst_register_tests() != CUE_SUCCESS) {
        fprintf(stderr, "registering tests failed: %s\n", CU_get_error_msg());
        CU_cleanup_registry();
        return 2;
    }
    const char *text = getenv("VST_CUNIT_ONLY");
    if (text != NULL && *text != '\0')
        only(text);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    unsigned ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    return (failed == 0 && ran > 0) ? 0 : 1;
}
