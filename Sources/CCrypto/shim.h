#include <openssl/sha.h>
#include <openssl/crypto.h>
