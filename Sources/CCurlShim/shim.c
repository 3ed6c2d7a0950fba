#include "CCurlShim.h"

CURLcode kt_curl_set_long(CURL *h, CURLoption opt, long value) { return curl_easy_setopt(h, opt, value); }
CURLcode kt_curl_set_str(CURL *h, CURLoption opt, const char *value) { return curl_easy_setopt(h, opt, value); }
CURLcode kt_curl_set_ptr(CURL *h, CURLoption opt, void *value) { return curl_easy_setopt(h, opt, value); }
CURLcode kt_curl_set_write(CURL *h, kt_curl_data_cb cb, void *userdata) {
    CURLcode rc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, cb);
    if (rc != CURLE_OK) return rc;
    return curl_easy_setopt(h, CURLOPT_WRITEDATA, userdata);
}
CURLcode kt_curl_set_header(CURL *h, kt_curl_data_cb cb, void *userdata) {
    CURLcode rc = curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, cb);
    if (rc != CURLE_OK) return rc;
    return curl_easy_setopt(h, CURLOPT_HEADERDATA, userdata);
}
CURLcode kt_curl_set_postfields(CURL *h, const void *data, long length) {
    CURLcode rc = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, length);
    if (rc != CURLE_OK) return rc;
    return curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, data);
}
long kt_curl_response_code(CURL *h) { long code = 0; curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code); return code; }
void *kt_curl_private(CURL *h) { char *p = NULL; curl_easy_getinfo(h, CURLINFO_PRIVATE, &p); return p; }
CURLMcode kt_curl_multi_set_long(CURLM *m, CURLMoption opt, long value) { return curl_multi_setopt(m, opt, value); }
CURL *kt_curl_multi_next_done(CURLM *m, CURLcode *result) {
    int left = 0;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(m, &left)) != NULL) {
        if (msg->msg == CURLMSG_DONE) { *result = msg->data.result; return msg->easy_handle; }
    }
    return NULL;
}
