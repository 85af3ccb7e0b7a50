// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * PID 1 of the arm64 KUnit boot (make kunit-arm64): load asahi.ko from the initramfs, so
 * KUnit runs the module's suites while the module loads, then power the machine off.
 *
 * The driver's tests live in the module, not in the kernel image, because the arm64 build
 * is the one Macs use (DRM_ASAHI=m).  Whatever happens, the machine powers off: a failed
 * load is reported on the console and the KTAP summary then finds suites missing.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
	int fd = open("/asahi.ko", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		perror("kunit-arm64 init: open /asahi.ko");
	else if (syscall(SYS_finit_module, fd, "", 0) != 0)
		perror("kunit-arm64 init: finit_module asahi.ko");
	else
		printf("kunit-arm64 init: asahi.ko loaded\n");
	fflush(stdout);
	sync();
	reboot(RB_POWER_OFF);
	/* Not reached unless the power-off failed; PID 1 exiting panics, and panic=-1 ends QEMU. */
	return 1;
}
