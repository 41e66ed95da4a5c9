/* om-test-browser.c — a scripted browser for SSO tests
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-test-browser"

#include "om-test-browser.h"

#include <string.h>

static gsize
append_cb (char  *ptr,
           gsize  size,
           gsize  nmemb,
           void  *user_data)
{
  g_string_append_len (user_data, ptr, (gssize) (size * nmemb));
  return size * nmemb;
}

OmTestBrowser *
om_test_browser_new (void)
{
  OmTestBrowser *b = g_new0 (OmTestBrowser, 1);

  b->curl = curl_easy_init ();
  b->body = g_string_new (NULL);
  b->headers = g_string_new (NULL);
  curl_easy_setopt (b->curl, CURLOPT_COOKIEFILE, "");   /* cookie engine, in memory */
  curl_easy_setopt (b->curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt (b->curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt (b->curl, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt (b->curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (b->curl, CURLOPT_WRITEFUNCTION, append_cb);
  curl_easy_setopt (b->curl, CURLOPT_WRITEDATA, b->body);
  curl_easy_setopt (b->curl, CURLOPT_HEADERFUNCTION, append_cb);
  curl_easy_setopt (b->curl, CURLOPT_HEADERDATA, b->headers);
  curl_easy_setopt (b->curl, CURLOPT_USERAGENT, "om-test-browser/1");
  return b;
}

void
om_test_browser_free (OmTestBrowser *b)
{
  curl_easy_cleanup (b->curl);
  g_string_free (b->body, TRUE);
  g_string_free (b->headers, TRUE);
  g_free (b->location);
  g_free (b);
}

void
om_test_browser_go (OmTestBrowser *b,
                    const char    *url,
                    const char    *form)
{
  char *redirect = NULL;
  long status = 0;
  CURLcode rc;

  g_string_truncate (b->body, 0);
  g_string_truncate (b->headers, 0);
  g_clear_pointer (&b->location, g_free);
  curl_easy_setopt (b->curl, CURLOPT_URL, url);
  if (form)
    {
      curl_easy_setopt (b->curl, CURLOPT_POSTFIELDS, form);
      curl_easy_setopt (b->curl, CURLOPT_POSTFIELDSIZE, (long) strlen (form));
    }
  else
    curl_easy_setopt (b->curl, CURLOPT_HTTPGET, 1L);
  rc = curl_easy_perform (b->curl);
  g_assert_cmpint (rc, ==, CURLE_OK);
  curl_easy_getinfo (b->curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo (b->curl, CURLINFO_REDIRECT_URL, &redirect);
  b->status = (guint) status;
  b->location = g_strdup (redirect);
}

char *
om_test_browser_match (const char *text,
                       const char *pattern)
{
  g_autoptr(GRegex) re = g_regex_new (pattern, 0, 0, NULL);
  g_autoptr(GMatchInfo) info = NULL;
  g_autofree char *raw = NULL;
  g_auto(GStrv) parts = NULL;

  if (!g_regex_match (re, text, 0, &info))
    return NULL;
  raw = g_match_info_fetch (info, 1);
  parts = g_strsplit (raw, "&amp;", -1);
  return g_strjoinv ("&", parts);
}

static char *
resolve (const char *base,
         const char *ref)
{
  return g_uri_resolve_relative (base, ref, G_URI_FLAGS_NONE, NULL);
}

char *
om_test_browser_walk (OmTestBrowser *b,
                      const char    *url,
                      const char    *login,
                      const char    *password,
                      const char    *stop_prefix)
{
  g_autofree char *current = g_strdup (url);

  b->saw_login = b->saw_consent = b->saw_confirmation = b->saw_new_user = FALSE;
  for (guint hop = 0; hop < 20; hop++)
    {
      g_autofree char *action = NULL;
      g_autofree char *next = NULL;

      if (g_str_has_prefix (current, stop_prefix))
        return g_steal_pointer (&current);
      om_test_browser_go (b, current, NULL);
      if (b->status >= 300 && b->status < 400)
        {
          g_assert_nonnull (b->location);
          g_free (current);
          current = g_strdup (b->location);
          continue;
        }
      g_assert_cmpuint (b->status, ==, 200);
      action = om_test_browser_match (b->body->str, "<form method=\"post\" action=\"([^\"]+)\"");
      if (strstr (b->body->str, "name=\"prompt\" value=\"login\""))
        {
          g_autofree char *u = g_uri_escape_string (login, NULL, FALSE);
          g_autofree char *p = g_uri_escape_string (password, NULL, FALSE);
          g_autofree char *form = g_strdup_printf ("prompt=login&login=%s&password=%s", u, p);

          g_assert_nonnull (action);
          b->saw_login = TRUE;
          next = resolve (current, action);
          om_test_browser_go (b, next, form);
        }
      else if (strstr (b->body->str, "name=\"prompt\" value=\"consent\""))
        {
          g_assert_nonnull (action);
          b->saw_consent = TRUE;
          next = resolve (current, action);
          om_test_browser_go (b, next, "prompt=consent");
        }
      else if (strstr (b->body->str, "<title>SSO redirect confirmation</title>"))
        {
          b->saw_confirmation = TRUE;
          b->saw_new_user = strstr (b->body->str, "Your account is now ready") != NULL;
          next = om_test_browser_match (b->body->str, "<a href=\"([^\"]+)\" class=\"primary-button\">");
          g_assert_nonnull (next);
          g_free (current);
          current = g_steal_pointer (&next);
          continue;
        }
      else
        g_error ("unexpected page at %s: %s", current, b->body->str);
      /* A form submission answers 303 (or the form again on a wrong password). */
      if (b->status == 401)
        return NULL;
      g_assert_cmpuint (b->status, ==, 303);
      g_assert_nonnull (b->location);
      g_free (current);
      current = g_strdup (b->location);
    }
  g_error ("too many hops from %s", url);
  return NULL;
}

/* The page's hidden inputs as a urlencoded form (owned). */
static char *
hidden_form (const char *html)
{
  g_autoptr(GRegex) re = g_regex_new ("<input type=\"hidden\" name=\"([^\"]+)\" value=\"([^\"]*)\"", 0, 0, NULL);
  g_autoptr(GMatchInfo) info = NULL;
  g_autoptr(GString) form = g_string_new (NULL);

  g_regex_match (re, html, 0, &info);
  while (g_match_info_matches (info))
    {
      g_autofree char *name = g_match_info_fetch (info, 1);
      g_autofree char *raw = g_match_info_fetch (info, 2);
      g_auto(GStrv) parts = g_strsplit (raw, "&amp;", -1);
      g_autofree char *value = g_strjoinv ("&", parts);
      g_autofree char *n = g_uri_escape_string (name, NULL, FALSE);
      g_autofree char *v = g_uri_escape_string (value, NULL, FALSE);

      g_string_append_printf (form, "%s%s=%s", form->len ? "&" : "", n, v);
      g_match_info_next (info, NULL);
    }
  return g_string_free (g_steal_pointer (&form), FALSE);
}

gboolean
om_test_browser_device_approve (OmTestBrowser *b,
                                const char    *verification_uri_complete,
                                const char    *login,
                                const char    *password,
                                gboolean       deny)
{
  g_autofree char *current = g_strdup (verification_uri_complete);

  b->saw_login = b->saw_consent = b->saw_confirmation = b->saw_new_user = FALSE;
  om_test_browser_go (b, current, NULL);
  for (guint hop = 0; hop < 20; hop++)
    {
      g_autofree char *action = NULL;
      g_autofree char *next = NULL;
      g_autofree char *form = NULL;

      if (b->status >= 300 && b->status < 400)
        {
          g_assert_nonnull (b->location);
          g_free (current);
          current = g_strdup (b->location);
          om_test_browser_go (b, current, NULL);
          continue;
        }
      if (b->status == 401 && strstr (b->body->str, "name=\"prompt\" value=\"login\""))
        return FALSE;   /* wrong password */
      if (strstr (b->body->str, "<h2>Device connected</h2>"))
        return !deny;
      if (strstr (b->body->str, "<h2>Sign-in aborted</h2>"))
        return deny;
      g_assert_cmpuint (b->status, ==, 200);
      action = om_test_browser_match (b->body->str, "<form[^>]* method=\"post\" action=\"([^\"]+)\"");
      if (action == NULL)
        g_error ("unexpected page at %s: %s", current, b->body->str);
      next = resolve (current, action);
      if (strstr (b->body->str, "name=\"prompt\" value=\"login\""))
        {
          g_autofree char *u = g_uri_escape_string (login, NULL, FALSE);
          g_autofree char *p = g_uri_escape_string (password, NULL, FALSE);

          b->saw_login = TRUE;
          form = g_strdup_printf ("prompt=login&login=%s&password=%s", u, p);
        }
      else if (strstr (b->body->str, "name=\"prompt\" value=\"consent\""))
        {
          b->saw_consent = TRUE;
          form = g_strdup ("prompt=consent");
        }
      else if (strstr (b->body->str, "id=\"op.deviceConfirmForm\""))
        {
          g_autofree char *hidden = hidden_form (b->body->str);

          b->saw_confirmation = TRUE;
          form = deny ? g_strconcat (hidden, "&abort=yes", NULL) : g_steal_pointer (&hidden);
        }
      else if (strstr (b->body->str, "<title>Submitting Callback</title>"))
        form = hidden_form (b->body->str);   /* the auto-submitting user_code form */
      else
        g_error ("unexpected page at %s: %s", current, b->body->str);
      g_free (current);
      current = g_steal_pointer (&next);
      om_test_browser_go (b, current, form);
    }
  g_error ("too many hops from %s", verification_uri_complete);
  return FALSE;
}
