# On erase (not upgrade): stop and disable the service.
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl stop ahdapa.socket ahdapa || :
    systemctl disable ahdapa.socket ahdapa || :
fi
