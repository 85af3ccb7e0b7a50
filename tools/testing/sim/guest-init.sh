#!/bin/sh
# Init for the simulated Mac's guest: report what the asahi driver did, then power off.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "guest-init: kernel $(uname -r)"
if [ -d /sys/bus/platform/drivers/asahi ]; then
	echo "guest-init: asahi platform driver registered"
	ls /sys/bus/platform/drivers/asahi | sed 's/^/guest-init:   /'
else
	echo "guest-init: asahi platform driver NOT registered"
fi
dmesg | grep -i asahi | sed 's/^/guest-init: dmesg: /'
echo o >/proc/sysrq-trigger
sleep 5
