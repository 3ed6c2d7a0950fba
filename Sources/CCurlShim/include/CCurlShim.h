#ifndef CCURLSHIM_H
#define CCURLSHIM_H
#include <curl/curl.h>
#include <stddef.h>

// curl_easy_setopt / curl_multi_setopt are variadic, which Swift cannot call; typed wrappers.
typedef size_t (*kt_curl_data_cb)(char *ptr, size_t size, size_t nmemb, void *userdata);

CURLcode kt_curl_set_long(CURL *h, CURLoption opt, long value);
CURLcode kt_curl_set_str(CURL *h, CURLoption opt, const char *value);
CURLcode kt_curl_set_ptr(CURL *h, CURLoption opt, void *value);
CURLcode kt_curl_set_write(CURL *h, kt_curl_data_cb cb, void *userdata);
CURLcode kt_curl_set_header(CURL *h, kt_curl_data_cb cb, void *userdata);
CURLcode kt_curl_set_postfields(CURL *h, const void *data, long length);
long kt_curl_response_code(CURL *h);
void *kt_curl_private(CURL *h);
CURLMcode kt_curl_multi_set_long(CURLM *m, CURLMoption opt, long value);
// The easy handle and result of a finished transfer, or NULL when none is left.
CURL *kt_curl_multi_next_done(CURLM *m, CURLcode *result);

#endif
