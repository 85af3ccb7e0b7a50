#!/bin/sh
# Init for the simulated Mac's guest: report what the drivers did, then power off.
# Runs as PID 1 with the build root (hostfs) as /, so everything here is Debian sid's.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev 2>/dev/null
echo "guest-init: kernel $(uname -r)"
# sim.linger=SECONDS on the kernel command line keeps the guest up that long before it
# reports and powers off, for firmware behaviour that comes after the probe (an injected
# crash or stray event, tools/testing/sim/fault-tests.sh).  The kernel ignores the dotted
# parameter (no module "sim"); it is read here from /proc/cmdline.
# sim.run=PROGRAM[,ARG...] runs a test program (tools/testing/uapi-test) once the report
# is printed; commas stand for spaces, which the command line cannot carry.
linger=
run=
for arg in $(cat /proc/cmdline); do
	case $arg in
	sim.linger=*) linger=${arg#sim.linger=} ;;
	sim.run=*) run=$(echo "${arg#sim.run=}" | tr ',' ' ') ;;
	esac
done
if [ -n "$linger" ]; then
	echo "guest-init: lingering ${linger} s"
	sleep "$linger"
fi
for drv in apple-mailbox asahi; do
	if [ -d /sys/bus/platform/drivers/$drv ]; then
		bound=$(ls /sys/bus/platform/drivers/$drv | grep -v -e bind -e uevent -e module | tr '\n' ' ')
		echo "guest-init: driver $drv registered, bound to: ${bound:-nothing}"
	else
		echo "guest-init: driver $drv not registered"
	fi
done
# A started GPU coprocessor cannot be handed back, so the driver hides its unbind file.
if [ -d /sys/bus/platform/drivers/asahi ]; then
	if [ -e /sys/bus/platform/drivers/asahi/unbind ]; then
		echo "guest-init: driver asahi offers a sysfs unbind"
	else
		echo "guest-init: driver asahi has no sysfs unbind"
	fi
fi
ls /dev/dri 2>/dev/null | sed 's/^/guest-init: \/dev\/dri\//'
# The driver's debugfs files, each line prefixed with its file name.
if mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null && [ -d /sys/kernel/debug/asahi ]; then
	for f in fw_log channels events heaps; do
		sed "s/^/guest-init: debugfs $f: /" "/sys/kernel/debug/asahi/$f"
	done
fi
if [ -n "$run" ]; then
	echo "guest-init: running $run"
	# shellcheck disable=SC2086 # the program and its arguments are words
	$run
	echo "guest-init: $run exited with status $?"
fi
echo "guest-init: done"
echo o >/proc/sysrq-trigger
sleep 10
