/* om-test-browser.h — a scripted browser for SSO tests
 *
 * libcurl with its cookie engine, following redirects by hand, that walks
 * a sign-in through the test OpenID provider's login and consent forms and
 * the homeserver's confirmation page.  Every call blocks; failures abort
 * the test.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <curl/curl.h>
#include <glib.h>

G_BEGIN_DECLS

/* The browser and what its last request answered. */
typedef struct
{
  CURL    *curl;
  guint    status;
  char    *location;   /* absolute, or NULL */
  GString *body;
  GString *headers;
  /* what the last om_test_browser_walk() went through */
  gboolean saw_login;
  gboolean saw_consent;
  gboolean saw_confirmation;
  gboolean saw_new_user;
} OmTestBrowser;

/* A new browser with an empty cookie jar (curl_global_init() first). */
OmTestBrowser *om_test_browser_new     (void);

/* Frees @b and its cookies. */
void         om_test_browser_free      (OmTestBrowser      *b);

/* GET @url, or POST @form (urlencoded) to it, without following redirects. */
void         om_test_browser_go        (OmTestBrowser      *b,
                                        const char         *url,
                                        const char         *form);

/* Walks from @url like a browser with a user at it, signing in as @login,
 * until a URL starting with @stop_prefix (not fetched), which it returns
 * (owned); NULL when the provider refuses @password. */
char        *om_test_browser_walk      (OmTestBrowser      *b,
                                        const char         *url,
                                        const char         *login,
                                        const char         *password,
                                        const char         *stop_prefix);

/* Walks the provider's device authorization pages (RFC 8628) from
 * @verification_uri_complete: the code confirmation (aborted there when
 * @deny), then sign-in as @login and consent.  TRUE when it reached the
 * success page (for @deny: the "Sign-in aborted" page); FALSE when the
 * provider refused @password.  saw_confirmation tells the confirmation
 * page was shown. */
gboolean     om_test_browser_device_approve (OmTestBrowser *b,
                                        const char         *verification_uri_complete,
                                        const char         *login,
                                        const char         *password,
                                        gboolean            deny);

/* The first match of @pattern's group 1 in @text (owned), with &amp; undone. */
char        *om_test_browser_match     (const char         *text,
                                        const char         *pattern);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (OmTestBrowser, om_test_browser_free)

G_END_DECLS
