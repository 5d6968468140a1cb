#!/bin/sh
# Certificates for one hallrate hall's broker, made with openssl: the hall's
# own certificate authority (CA), the broker's certificate, and optional
# client certificates for devices. docs/deployment-pi.md says where each
# file goes; tests/certs.py makes its throwaway CAs with this same script.
#
#   hall-certs.sh ca DIR HALL             DIR/hall-ca.crt and hall-ca.key: the CA of hall HALL
#   hall-certs.sh broker DIR NAME...      DIR/broker.crt and broker.key, valid for every NAME
#                                         (the broker's addresses and host names, e.g.
#                                         192.168.50.10 hub-qinghe.lan), signed by DIR's CA
#   hall-certs.sh client DIR ID           DIR/ID.crt and ID.key for device ID, signed by DIR's CA
#
# Keep hall-ca.key offline (a USB stick in the office safe): whoever holds it
# can make certificates the whole hall trusts. Keys are written mode 0600.
set -eu

CA_DAYS=3650
CERT_DAYS=825

usage() {
    sed -n '7,11p' "$0" >&2
    exit 2
}

[ $# -ge 3 ] || usage
command=$1
dir=$2
shift 2
umask 077
mkdir -p "$dir"
ext=$(mktemp)
trap 'rm -f "$ext" "$dir/request.csr"' EXIT

# A leaf certificate for $1 (file stem) with subject CN $2, extensions in $ext.
sign() {
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$dir/$1.key" -subj "/CN=$2" -out "$dir/request.csr" 2>/dev/null
    openssl x509 -req -in "$dir/request.csr" -CA "$dir/hall-ca.crt" -CAkey "$dir/hall-ca.key" \
        -CAcreateserial -days "$CERT_DAYS" -sha256 -extfile "$ext" -out "$dir/$1.crt" 2>/dev/null
    chmod 0644 "$dir/$1.crt"
    echo "$dir/$1.crt $dir/$1.key"
}

case $command in
ca)
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$dir/hall-ca.key" -subj "/CN=hallrate $1 hall CA" -days "$CA_DAYS" -sha256 \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$dir/hall-ca.crt" 2>/dev/null
    chmod 0644 "$dir/hall-ca.crt"
    echo "$dir/hall-ca.crt $dir/hall-ca.key"
    ;;
broker)
    names=""
    for name in "$@"; do
        # An address is listed as IP:, a host name as DNS: (clients check either).
        case $name in
        *:*) kind=IP ;;
        *[!0-9.]*) kind=DNS ;;
        *) kind=IP ;;
        esac
        names="${names:+$names,}$kind:$name"
    done
    {
        echo "basicConstraints=critical,CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        echo "extendedKeyUsage=serverAuth"
        echo "subjectKeyIdentifier=hash"
        echo "authorityKeyIdentifier=keyid"
        echo "subjectAltName=$names"
    } >"$ext"
    sign broker "$1"
    ;;
client)
    [ $# -eq 1 ] || usage
    {
        echo "basicConstraints=critical,CA:FALSE"
        echo "keyUsage=critical,digitalSignature"
        echo "extendedKeyUsage=clientAuth"
        echo "subjectKeyIdentifier=hash"
        echo "authorityKeyIdentifier=keyid"
    } >"$ext"
    sign "$1" "$1"
    ;;
*)
    usage
    ;;
esac
