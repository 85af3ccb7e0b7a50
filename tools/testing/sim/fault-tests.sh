#!/usr/bin/env bash
# `make sim-faults`: the firmware misbehaves, the driver copes.
#
# Each case boots the simulated M1 with one fault injected in the model (agx-model --fault)
# and asserts, from the kernel log and the model's trace and exit status:
#
# * the outcome: "probe-fails [ERR]" = the asahi probe failed (with error ERR if given) after
#   the case's messages and nothing stayed bound (the driver core prints "probe with driver
#   asahi failed with error ERR", except for -19 ENODEV and -6 ENXIO, which it reports only
#   at debug level: for those the error is inferred from a failed probe that the core did
#   not print, and no deferral); "bound: <summary>" = the probe succeeded,
#   the driver stayed bound and the case's messages followed (the guest lingers a second,
#   sim.linger, so firmware behaviour after the probe is seen);
# * the case's kernel messages, in this order (a "once:" message exactly once);
# * the case's model trace lines (what the model did: the fault really was injected);
# * no warning, oops, BUG or lockdep report; the guest went on to power off (no hang); the
#   model exited 0 (an injected fault is not a violation; a strict-mode stop is a failure).
#
# Runs on one G13 and one G14X pair (t8103 and t6022 with 13.5), or on the pair SOC= and
# FW= name. Prints one line per pair and case and `sim-faults: N passed, N failed`.
set -uo pipefail
repo=$(cd "$(dirname "$0")/../../.." && pwd)
if [ -n "${SOC:-}" ] || [ -n "${FW:-}" ]; then
	pairs="${SOC:-t8103}:${FW:-13.5}"
else
	pairs="t8103:13.5 t6022:13.5"
fi
passed=0
failed=0

# Fields: case | model options | kernel arguments | outcome |
#         kernel messages (';'-separated, in order) | model trace lines (';'-separated)
cases=(
	"never-answer|--fault never-answer||probe-fails|GPU firmware did not start: no handoff magic|fault never-answer: CPU started, firmware stays silent"
	"bad-rtkit-version|--fault bad-rtkit-version||probe-fails|RTKit boot failed: EINVAL|fault bad-rtkit-version: injected for this run"
	"already-running|--fault already-running||probe-fails|GPU coprocessor is already running|strict=true fault=already-running"
	"never-ready|--fault never-ready||probe-fails -110|GPU firmware did not consume Initialize within 1000 ms|fault never-ready: channels initialised, DevCtrl is never read"
	"initdata-rejected|--fault initdata-rejected||probe-fails -19|GPU firmware crashed: GFX PANIC - Unable to grab init data from host - agx_background(2)|fw panic: GFX PANIC - Unable to grab init data from host - agx_background(2);crashlog written va=0xffffffae00000000 bytes=;mbox tx ep=0x01 msg0=0x00120fae00000000"
	"crash-after-ready|--fault crash-after-ready|sim.linger=1|bound: firmware crash handled (GPU marked dead)|GPU firmware ready in;GPU firmware crashed: GFX PANIC - Injected fault - agx_background(2);GPU marked dead: later requests fail with ENODEV|fault crash-after-ready: firmware ready, acting in 300 ms;fw panic: GFX PANIC - Injected fault - agx_background(2);crashlog written va=0xffffffae00000000 bytes=;mbox tx ep=0x01 msg0=0x00120fae00000000"
	"unknown-event-slot|--fault unknown-event-slot|sim.linger=1|bound: stray event for slot 5 reported once|GPU firmware ready in;once:firmware signalled event slot 5, which has no owner|fault unknown-event-slot: firmware ready, acting in 100 ms;fw event index=0 tag=Flag firing=[0x20, 0x0, 0x0, 0x0]"
	# The one driver request after ready today is the cache flush (the live self-test frees
	# a private object and collects it); the firmware never consumes it.
	"fwctl-stalls|--fault fwctl-stalls|asahi.live_selftests=1|bound: unconsumed cache flush timed out, memory kept parked|GPU firmware ready in;once:GPU firmware did not complete the cache flush of 0x;live selftest fw-cache-flush: FAILED at flush: ETIMEDOUT|fault fwctl-stalls: FwCtl message at index 0 left unconsumed"
)

# The number of the first line after line $2 of text $1 that contains the fixed string $3.
line_after() {
	awk -v from="$2" -v s="$3" 'NR > from && index($0, s) { print NR; exit }' <<<"$1"
}

for pair in $pairs; do
soc=${pair%%:*}
fw=${pair#*:}
for c in "${cases[@]}"; do
	IFS='|' read -r name opts kargs outcome messages traces <<<"$c"
	dir=$repo/.build/sim/$soc-$fw-$name
	# shellcheck disable=SC2086 # options are words
	SIM_TAG=$name SIM_KARGS=$kargs "$repo/scripts/sim.sh" "$soc" "$fw" $opts \
		>"$repo/.build/sim-$soc-$fw-$name.out" 2>&1
	status=$?
	problems=()
	kmsg=$(sed -n '/Linux version/,$p' "$dir/uml.log" 2>/dev/null)
	trace=$(cat "$dir/trace.log" 2>/dev/null)
	model_status=$(cat "$dir/model-status" 2>/dev/null)
	if [ -z "$model_status" ]; then
		problems+=("model exit status not recorded (sim exit $status)")
	elif [ "$model_status" != 0 ]; then
		problems+=("model exited with status $model_status")
		problems+=("$(sed -n '/agx-model: strict mode/{n;p;q}' "$dir/model.log" 2>/dev/null | sed 's/^ */model stopped (strict): /')")
	elif [ $status -ne 0 ]; then
		problems+=("guest did not boot to power-off (sim exit $status)")
	fi

	# The case's messages in order; the outcome's own line last.
	IFS=';' read -r -a want <<<"$messages"
	err=
	case $outcome in
	probe-fails*)
		err=${outcome#probe-fails}
		err=${err# }
		case $err in
		-19 | -6) ;; # silent in the driver core (drivers/base/dd.c really_probe)
		*) want+=("probe with driver asahi failed with error${err:+ $err}") ;;
		esac
		;;
	esac
	at=0
	for m in "${want[@]}"; do
		once=
		case $m in once:*) once=1 m=${m#once:} ;; esac
		n=$(line_after "$kmsg" "$at" "$m")
		if [ -z "$n" ]; then
			if grep -qF -- "$m" <<<"$kmsg"; then
				problems+=("kernel message '$m' out of order")
			else
				problems+=("no kernel message '$m'")
			fi
			continue
		fi
		at=$n
		if [ -n "$once" ]; then
			count=$(grep -cF -- "$m" <<<"$kmsg")
			[ "$count" -eq 1 ] || problems+=("kernel message '$m' $count times, expected once")
		fi
	done
	case $outcome in
	probe-fails*)
		grep -q 'driver asahi registered, bound to: nothing' "$dir/uml.log" 2>/dev/null ||
			problems+=("asahi still bound after the failure")
		case $err in
		-19 | -6)
			core=$(grep -oE 'probe with driver asahi failed with error -?[0-9]+|deferred probe pending.*' <<<"$kmsg" | head -n 1)
			[ -z "$core" ] || problems+=("expected error $err, but the kernel says: $core")
			;;
		esac
		;;
	bound*)
		grep -qE 'asahi .*probe with driver asahi failed' <<<"$kmsg" &&
			problems+=("the asahi probe failed")
		grep -qE 'driver asahi registered, bound to: [0-9a-f]*\.gpu' "$dir/uml.log" 2>/dev/null ||
			problems+=("asahi not bound to the GPU when the guest powered off")
		;;
	esac

	IFS=';' read -r -a lines <<<"$traces"
	for t in "${lines[@]}"; do
		grep -qF -- "$t" <<<"$trace" || problems+=("model trace lacks '$t'")
	done
	grep -q '^violation' <<<"$trace" && problems+=("model: $(grep -m 1 '^violation' <<<"$trace")")

	bad=$(grep -E 'WARNING:|BUG:|Oops|Call Trace|general protection|kernel BUG|possible (circular|recursive) locking|inconsistent lock state|DEBUG_LOCKS_WARN_ON' <<<"$kmsg" | head -n 3)
	[ -z "$bad" ] || problems+=("kernel trouble: $bad")

	if [ ${#problems[@]} -eq 0 ]; then
		case $outcome in
		probe-fails*)
			shown=$(grep -oE 'probe with driver asahi failed with error -?[0-9]+' <<<"$kmsg" | head -n 1)
			[ -z "$shown" ] || err=${shown##* }
			echo "$soc fw $fw: fault $name: clean probe failure ($err)"
			;;
		bound*) echo "$soc fw $fw: fault $name: ${outcome#bound: }" ;;
		esac
		passed=$((passed + 1))
	else
		echo "$soc fw $fw: fault $name: FAILED"
		for p in "${problems[@]}"; do
			[ -n "$p" ] && echo "  $p"
		done
		echo "  logs: $dir"
		failed=$((failed + 1))
	fi
done
done
echo "sim-faults: $passed passed, $failed failed"
[ $failed -eq 0 ]
