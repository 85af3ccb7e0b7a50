/* The UAPI the test is built against: DRM core and asahi, from the kernel tree. */
#include <drm/drm.h>
#include <drm/asahi_drm.h>
