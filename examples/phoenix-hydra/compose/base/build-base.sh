#!/bin/sh
# Build localhost/phoenix-base:1, the stack's base image, without a registry:
# a root filesystem made of the host's busybox-static and its applet links,
# imported into the engine.  Usage: build-base.sh [docker|podman]
# Idempotent: does nothing when the image already exists.
set -eu
engine=${1:-docker}
image=localhost/phoenix-base:1
if "$engine" image inspect "$image" >/dev/null 2>&1; then
    echo "build-base: $image already present in $engine"
    exit 0
fi
busybox=$(command -v busybox || true)
for candidate in /bin/busybox /usr/bin/busybox "$busybox"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && ! ldd "$candidate" >/dev/null 2>&1; then
        busybox=$candidate; break
    fi
done
[ -n "$busybox" ] || { echo "build-base: busybox-static is required (apt-get install busybox-static)" >&2; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
chmod 0755 "$root"  # mktemp -d makes it 0700: non-root users in the container could not traverse /
mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/root"
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nphoenix:x:999:999:phoenix:/state:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\nphoenix:x:999:\nnogroup:x:65534:\n' >"$root/etc/group"
tar -C "$root" -cf - . | "$engine" import --change 'CMD ["/bin/sh"]' - "$image" >/dev/null
echo "build-base: built $image in $engine"
