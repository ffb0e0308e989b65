#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine, and caches slow
# setup (the MinIO binary; the packaging tests' chroot) under
# $ORBIT_TEST_CACHE so reruns skip it.
set -euo pipefail
cache="${ORBIT_TEST_CACHE:-$HOME/.cache/orbit-test}"
mkdir -p "$cache/bin"

need_apt=()
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
command -v curl >/dev/null || need_apt+=(curl)
command -v sha512sum >/dev/null || need_apt+=(coreutils)
# The macOS pkg tests check our xar, cpio and BOM output with tools no one
# here wrote: 7zz and bsdtar read xar, GNU cpio reads the Payload.
command -v 7zz >/dev/null || need_apt+=(7zip)
command -v bsdtar >/dev/null || need_apt+=(libarchive-tools)
command -v cpio >/dev/null || need_apt+=(cpio)
# The msi is built with wixl and checked with msitools, gcab and cabextract;
# Authenticode signatures are checked with osslsigncode.
command -v wixl >/dev/null || need_apt+=(wixl)
command -v msiinfo >/dev/null || need_apt+=(msitools)
command -v gcab >/dev/null || need_apt+=(gcab)
command -v cabextract >/dev/null || need_apt+=(cabextract)
command -v osslsigncode >/dev/null || need_apt+=(osslsigncode)
# Wine's msiexec runs the msi's install, upgrade and uninstall tables (it
# cannot run Go programs, so not the service itself).
command -v wine64 >/dev/null || [ -x /usr/lib/wine/wine64 ] || need_apt+=(wine64)
# The tray app's tests: a private session bus, and a real StatusNotifierWatcher
# to cross-check the one written in the tests.
command -v dbus-daemon >/dev/null || need_apt+=(dbus)
command -v status-notifier-watcher >/dev/null || need_apt+=(haskell-status-notifier-item-utils)
# The deb and rpm tests check our packages with Debian's and RPM's own
# tools: dpkg-deb and lintian, debsig-verify and gpg for the signature, ar
# (binutils), rpm for rpm -q/--root/--checksig, and debootstrap for the
# bookworm chroot they install into (built on first use and cached as a
# tarball under $ORBIT_TEST_CACHE/chroot; rpmlint runs inside it).
command -v dpkg-deb >/dev/null || need_apt+=(dpkg-dev)
command -v lintian >/dev/null || need_apt+=(lintian)
command -v debsig-verify >/dev/null || need_apt+=(debsig-verify)
command -v gpg >/dev/null || need_apt+=(gnupg)
command -v ar >/dev/null || need_apt+=(binutils)
command -v rpm >/dev/null || need_apt+=(rpm)
command -v debootstrap >/dev/null || need_apt+=(debootstrap)
# The per-user tray runner's root tests create throwaway users and ask the
# user's bus whether the tray registered.
command -v useradd >/dev/null || need_apt+=(passwd)
command -v dbus-send >/dev/null || need_apt+=(dbus-bin)
# Scripts from Fleet may ask for zsh (#!/bin/zsh), which Fleet accepts.
command -v zsh >/dev/null || need_apt+=(zsh)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test-deps: need root to apt-get install ${need_apt[*]}" >&2
    exit 1
  fi
  echo "test-deps: installing ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# MinIO is a real S3-compatible server for `orbitctl updates publish` tests.
if [ ! -x "$cache/bin/minio" ]; then
  echo "test-deps: building MinIO into $cache/bin (one-time, about 2 minutes)"
  GOFLAGS= GOBIN="$cache/bin" go install github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c
fi

go mod download
echo "test-deps: ready (cache $cache)"
