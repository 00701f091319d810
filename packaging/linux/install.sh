#!/bin/sh
# Install the unpacked Tiro folder for the current user: a `tiro` command in
# ~/.local/bin, a menu entry and an icon. Tiro keeps its data in ~/.local/share/tiro
# (or $TIRO_HOME), never in this folder, so replacing the folder upgrades Tiro.
#     ./install.sh             install (or upgrade) for this user
#     ./install.sh --remove    remove the command, menu entry and icon (keeps your data)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin="${XDG_BIN_HOME:-$HOME/.local/bin}"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
apps="$data/applications"
icons="$data/icons/hicolor"
if [ "${1:-}" = "--remove" ]; then
    rm -f "$bin/tiro" "$apps/tiro.desktop" "$icons/256x256/apps/tiro.png" "$icons/scalable/apps/tiro.svg"
    echo "Removed the tiro command, menu entry and icon. Your data in $data/tiro is kept."
    exit 0
fi
mkdir -p "$bin" "$apps" "$icons/256x256/apps" "$icons/scalable/apps"
ln -sf "$here/tiro" "$bin/tiro"
sed "s|^Exec=tiro|Exec=$here/tiro|" "$here/share/tiro.desktop" > "$apps/tiro.desktop"
cp "$here/share/tiro.png" "$icons/256x256/apps/tiro.png"
cp "$here/share/tiro.svg" "$icons/scalable/apps/tiro.svg"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$apps" || true
echo "Installed: $bin/tiro and a Tiro entry in your applications menu."
