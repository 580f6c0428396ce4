/* vst-admin overlap (admin_overlap.c, DESIGN.md §13). Internal to vst-admin. */
#ifndef VST_ADMIN_OVERLAP_H
#define VST_ADMIN_OVERLAP_H

#include <jansson.h>

#include "cli/admin/admin.h"
#include "profile/profile.h"
#include "wire/codec_link.h"

#define VST_OVERLAP_K_MIN 3 /* keyd refuses less, too */
#define VST_OVERLAP_K_DEFAULT 5

int cmd_overlap(int argc, char **argv);

#endif
