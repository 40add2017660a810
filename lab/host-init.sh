#!/bin/sh
# Boots one lab host. Runs as root inside the host's network namespace, in a fresh mount and UTS namespace
# (`ip netns exec NS unshare --mount --uts --propagation private sh host-init.sh NAME DIR`); the PID namespace stays
# the machine's. It then becomes the host's sshd, which daemonizes: everything the host later runs descends from it
# and shares its namespaces.
set -eu
name=$1
host_dir=$2

hostname "$name"

# Mounts copied from the machine at unshare time include /run/netns, whose bind mounts would keep every other
# lab host's network namespace alive for as long as this host lives. Drop them before hiding /run.
umount -l /run/netns 2>/dev/null || true
mount -t tmpfs -o mode=0755,size=64m tmpfs /run
mkdir -p /run/sshd /run/lock
chmod 0755 /run/sshd
# podman keeps its container locks in /dev/shm/libpod_lock: shared, the hosts' lock numbers would collide and a
# rebuilt host could not take its containers' locks again ("acquiring lock N: file exists").
mount -t tmpfs -o mode=1777,nosuid,nodev,size=64m shm /dev/shm

for file in hosts hostname resolv.conf; do
    mount --bind "$host_dir/etc/$file" "/etc/$file"
done
for dir in /etc/haproxy /etc/keepalived /etc/containers /var/lib/containers /var/lib/haproxy; do
    # The machine may not have the mount point yet (a fresh machine has no /var/lib/containers).
    mkdir -p "$dir"
    mount --bind "$host_dir$dir" "$dir"
done

# `ip netns exec` remounted /sys, which dropped the cgroup mounts: runc then fails with "no cgroup mount found".
# Rebuild the machine's hybrid layout: the v1 controllers, name=systemd and cgroup2 on `unified`.
mount -t tmpfs -o mode=0755 cgroup /sys/fs/cgroup
for controller in cpu cpuacct cpuset memory devices freezer blkio pids; do
    mkdir -p "/sys/fs/cgroup/$controller"
    mount -t cgroup -o "$controller" cgroup "/sys/fs/cgroup/$controller"
done
mkdir -p /sys/fs/cgroup/systemd /sys/fs/cgroup/unified
mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified

exec /usr/sbin/sshd -f "$host_dir/sshd_config" -E "$host_dir/sshd.log"
