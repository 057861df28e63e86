"""Text pools for the fictional demo desk: people, recurring problems, one-off tickets.

Everything here is invented. Templates use `{slot}` fields that make_demo_tickets.py fills per
ticket. Light markup: a blank line separates blocks; "- " / "1. " lines are lists; "|" lines are
a table (first row = header); a line "[img:file.png]" is an inline screenshot.
"""

from __future__ import annotations

FIRST_NAMES = [
    "Anna", "Marcus", "Priyanka", "Tomás", "Hannah", "Wei", "Olusegun", "Claire", "Dmitri", "Fatima",
    "Jonas", "Leila", "Brendan", "Zoë", "Kenji", "Sofia", "Rafael", "Ingrid", "Kwame", "Megan",
    "Luca", "Aisha", "Pieter", "Grace", "Mateo", "Nadia", "Oliver", "Yuki", "Siobhan", "Ravi",
    "Elena", "Gareth", "Chloé", "Samir", "Beatriz", "Henrik", "Tanya", "Declan", "Mei", "Jorge",
]
LAST_NAMES = [
    "Kowalczyk", "Brennan", "Okafor", "Lindqvist", "Delacroix", "Haddad", "Moreau", "Fitzgerald",
    "Nakamura", "Varga", "Pereira", "Osei", "Whitfield", "Castellanos", "Jansen", "Abara", "Rossetti",
    "Thornbury", "Kaur", "Mbeki", "Sørensen", "Quintero", "Albrecht", "Dunmore", "Ferreira", "Halloran",
    "Iwasaki", "Petrakis", "Vance", "Oyelaran",
]
# (company name, email domain, country code, currency symbol)
COMPANIES = [
    ("Brightlane Dental", "brightlane.example.com", "US", "$"),
    ("Harbour & Finch Physio", "harbourfinch.example.co.uk", "GB", "£"),
    ("Northwind Cleaning Co.", "northwindclean.example.com", "US", "$"),
    ("Kaffeehaus Lindner GmbH", "kaffeehaus-lindner.example.de", "DE", "€"),
    ("Greenfield Tutors", "greenfieldtutors.example.org", "US", "$"),
    ("Maple Street Vets", "maplestreetvets.example.com", "CA", "$"),
    ("Atelier Moreau", "ateliermoreau.example.fr", "FR", "€"),
    ("Summit Home Care", "summithomecare.example.com", "US", "$"),
    ("Delft Logistics B.V.", "delftlogistics.example.nl", "NL", "€"),
    ("Pinecrest Climbing Gym", "pinecrestclimbing.example.com", "US", "$"),
    ("Bluebell Nursery School", "bluebellnursery.example.co.uk", "GB", "£"),
    ("Okafor Event Staffing", "okaforevents.example.com", "US", "$"),
    ("Ristorante Da Luca", "daluca.example.it", "IT", "€"),
    ("Tidewater Marine Services", "tidewatermarine.example.com", "US", "$"),
    ("Copperleaf Accounting", "copperleaf.example.com", "AU", "$"),
    ("Nordlys Yoga Studio", "nordlysyoga.example.no", "NO", "kr"),
    ("Ashford Security Ltd", "ashfordsecurity.example.co.uk", "GB", "£"),
    ("Riverbend Pharmacy", "riverbendrx.example.com", "US", "$"),
    ("Studio Kintsugi", "studiokintsugi.example.org", "US", "$"),
    ("Castellanos Landscaping", "castellanoslandscaping.example.com", "US", "$"),
    ("Vega Language School", "vegalanguage.example.es", "ES", "€"),
    ("Hollis Street Bakery", "hollisbakery.example.com", "US", "$"),
    ("Westmere Dental Group", "westmeredental.example.co.nz", "NZ", "$"),
    ("Ironbridge Fitness", "ironbridgefit.example.co.uk", "GB", "£"),
]
# (agent id, full name, signature markup)
AGENTS = [
    (77000000101, "Priya Raman", "Kind regards,\nPriya Raman\nSilo Support"),
    (77000000102, "Marco Bellini", "-- \nMarco | Silo Customer Success\nhttps://help.silo-demo.example.com"),
    (77000000103, "Jess Okonkwo", "Cheers,\nJess\nSilo Support Team"),
    (77000000104, "Tobias Engel", "Best regards,\nTobias Engel\nTechnical Support Engineer, Silo"),
    (77000000105, "Aoife Gallagher", "Thanks,\nAoife"),
]

# Generic pieces used around the problem-specific text.
GENERIC = {
    "greetings": [
        "Hi,", "Hello,", "Hi there,", "Hello Silo team,", "Good morning,", "Hey,", "Dear Support,",
        "Hi support,", "", "", "", "",
    ],
    "closings": [
        "Thanks in advance.", "Thanks!", "Please help asap.", "Appreciate any help.", "Thank you",
        "Let me know if you need anything else from me.", "", "", "", "",
    ],
    "confirm": [
        "That worked, thank you so much!",
        "Yes! All good now. Thanks for the quick help.",
        "Confirmed, it's working again. You can close this.",
        "thx, sorted",
        "Perfect, that did it. Have a good day!",
        "Looks fine now. Thanks {agent}.",
        "Great, working on my side too. Much appreciated.",
        "Just checked with the team and everyone is fine now. Thanks for your patience with us.",
    ],
    "still": [
        "Tried that, still the same unfortunately.",
        "No change I'm afraid. Same problem as before.",
        "I did exactly what you said and it's still not working!!",
        "Hmm, it worked once and then broke again this morning.",
        "Still happening. Anything else we can try?",
    ],
    "chase": [
        "Any update on this?",
        "Hi again, just checking in on this one. It's still happening on our side.",
        "Hello? It has been {n} days now.",
        "We have our monthly review on Thursday and really need this sorted before then. Any news?",
        "Following up. My manager is asking me for an ETA.",
        "Any progress? This is costing us time every day.",
        "Still broken today fyi.",
        "Just bumping this. Can someone call me? +1 (312) 555-01{n2}",
    ],
    "agent_update": [
        "Thanks for your patience, {first}. Our engineers are still working on this and I'll update "
        "you as soon as I hear back.",
        "Quick update: we've reproduced the problem internally, which is good news. A fix is being "
        "worked on now.",
        "Sorry for the slow reply. I've escalated this to our tier 2 team with all the details you "
        "sent, so you shouldn't need to repeat anything.",
        "I've asked engineering for an ETA and will get back to you by end of day tomorrow at the "
        "latest.",
        "Apologies, {first}, I know this is frustrating. The fix is in testing now; I'll let you know "
        "the moment it's released.",
        "Thanks for the extra details, they helped. We're now fairly sure of the cause and the "
        "developers are on it.",
    ],
    "agent_more_info": [
        "Could you send a screenshot of what you see, and the approximate time it happened (with "
        "your timezone)? That lets me find the right entry in our logs.",
        "Would you mind trying once more and telling me the exact time? I'd like to watch the logs "
        "while you do it.",
        "Could you tell me which browser/app version you're on? You'll find the app version under "
        "Settings > About.",
    ],
    "customer_more_info": [
        "Did it again just now at {time}. Screenshot attached.\n\n[img:screenshot_{n2}.png]",
        "Tried at {time} ({tz}). Same result.",
        "{browser} on {os_name}. The app says version {app_ver}.",
        "Here you go:\n\n[img:capture_{n2}.png]",
    ],
    "notes": [
        "Customer is on the {plan} plan, renewal coming up. Please prioritise.",
        "Pinged the engineering channel again about {eng}, no ETA yet.",
        "Asked {agent2} to take a second look, I'm out tomorrow.",
        "Customer called in as well, told them we're on it.",
        "Linked to {eng}. Same root cause as the others this week.",
        "Spoke to the customer on the phone, very patient, but would appreciate a goodwill gesture.",
    ],
    "agent_close": [
        "Glad to hear it! I'll close this ticket now, but just reply to this email if anything comes "
        "up again.",
        "Great, thanks for confirming. Closing this one.",
        "Happy to help! Marking this as resolved.",
        "Thanks for letting us know, {first}. Have a great week!",
    ],
}

# One entry per recurring problem; `count` tickets are generated for each. A ticket follows one
# variant: workaround[i] goes with resolution[i] and notes[i]; notes beyond the workarounds fit any.
PROBLEMS = [
    {
        "key": "password_reset_email_missing",
        "count": 18,
        "group": 7003,
        "type": "Problem",
        "tags": ["login", "password-reset", "email"],
        "eng": "ENG-2291",
        "subjects": [
            "Password reset email not arriving", "Reset password link never comes",
            "cant reset my password", "Not receiving password reset emails",
            "Forgot password - no email", "URGENT: locked out, reset email missing", "Password reset",
            "No reset email (checked spam!)", "Reset link not received for several staff",
        ],
        "openings": [
            "I clicked 'Forgot password' about {n} times this morning and the email never shows up. "
            "Checked spam and junk, nothing. My login is {email}. Can you send it manually or something?",
            "hi, password reset email is not coming. i need to get in to approve timesheets today",
            "Several of our staff at {company} can't reset their passwords. They request the reset on "
            "the login page, the page says \"Check your inbox\", but no email arrives - not even in "
            "quarantine as far as I can tell. Other emails from you (the weekly summary) still arrive "
            "fine.\n\nAffected users so far:\n- {colleague1_email}\n- {colleague2_email}\n- {email}\n\nCould you "
            "check if something is blocked on your side?",
            "I've been locked out since yesterday. Reset password -> enter email -> nothing. Tried "
            "{browser} and my phone, tried my work and my personal address. What am I doing wrong??",
            "Good morning, I am writing because the email for reset the password is not arriving to my "
            "mailbox. I have tried many times since {date}. Please can you help me to enter in my "
            "account. Thank you",
            "Forgot my password, the reset email never arrived (waited 2 hours). Our IT says nothing is "
            "being blocked on their end. Email is {email}.",
            "Our new manager {colleague1} was invited last week, accepted the invite, then forgot her "
            "password. The reset email doesn't arrive. The invite email did arrive fine. Weird?",
            "The reset password email is not being delivered. I get the green banner \"If an account "
            "exists we sent you a link\" but nothing ever comes.\n\n[img:reset_banner.png]",
            "Can someone just reset my password for me? The self-service reset isn't sending anything.",
            "Hey team - quick one. Password reset emails seem to be broken for our domain ({domain}). I "
            "checked our mail gateway logs and I can't see anything from you at all, so I don't think "
            "it's us.",
        ],
        "details": [
            "Yes I checked spam, junk, the 'Other' tab in Outlook, and asked IT to look in quarantine. "
            "Nothing.",
            "It's {email}. I requested it again at {time} today.",
            "Our IT guy says we had bounces a few weeks ago when my mailbox was full. Could that be it?",
            "Tried with my gmail address too, same. The address on the account is {email}.",
        ],
        "question": [
            "Sorry to hear you're locked out! Could you confirm the exact email address you're entering "
            "on the reset page, and whether you've checked spam/junk and any quarantine your IT team "
            "runs? If you can tell me roughly when you last tried, I can look it up in our mail logs.",
            "Thanks for reaching out. To look into this I need the email address of the affected "
            "user(s) and the approximate time of the last reset attempt (with timezone).",
        ],
        "workaround": [
            "I checked our email provider's logs: {email} is on our suppression list because an earlier "
            "email to it bounced (mailbox full / temporarily unavailable). While an address is "
            "suppressed, every email to it is silently dropped, password resets included.\n\nI've "
            "removed it from the list. Please:\n1. Wait 5 minutes.\n2. Go to the login page and click "
            "\"Forgot password\" again.\n3. Use the newest email only - older links are invalid.\n\nIf it "
            "still doesn't arrive within 15 minutes, tell me and I'll send a one-time login link.",
            "Our logs show the reset emails to your domain were dropped after an old soft bounce put "
            "the addresses on our suppression list. I've cleared the entries for:\n- {email}\n- "
            "{colleague1_email}\n\nPlease request a new reset link now; it should arrive within a minute or "
            "two.",
        ],
        "resolution": [
            "I've cleared {email} from the bounce suppression list and triggered a fresh reset email "
            "(sent at {time} UTC; our logs show your server accepted it). Let me know if it's in your "
            "inbox!",
            "Good news: the suppression entries for your domain are removed and I can see the last "
            "reset email was delivered. Our developers have also changed things so that a temporary "
            "bounce no longer blocks password resets permanently.",
        ],
        "notes": [
            "Address was on the SendGrid suppression list (soft bounce, mailbox full). Removed manually. "
            "4th one this week - {eng} should make soft bounces expire.",
            "SendGrid activity: dropped, reason 'Bounced Address'. Cleared.",
            "Same as the others: suppressed after a bounce. Linked to {eng}.",
        ],
        "still": ["Still nothing in my inbox, I requested it again 10 minutes ago."],
    },
    {
        "key": "sso_saml_login_loop",
        "count": 14,
        "group": 7003,
        "type": "Incident",
        "tags": ["sso", "saml", "login"],
        "eng": "ENG-2340",
        "subjects": [
            "SSO login loop", "SAML login keeps redirecting", "Can't log in with Okta - endless redirect",
            "Stuck in a redirect loop after SSO", "Azure AD sign in loops back to login page",
            "SSO broken since this morning", "Login loop (SAML)",
        ],
        "openings": [
            "Since {date} none of our users can log in through {idp}. They click 'Sign in with SSO', "
            "authenticate, get sent back to Silo and immediately bounced back to {idp} again. It loops "
            "forever until the browser gives up with 'too many redirects'.",
            "SSO login is looping. {idp} -> Silo -> {idp} -> Silo... Happens in {browser}, incognito "
            "too. Password login works for the admin account (the one without SSO).",
            "Hello,\n\nWe use {idp} for SAML SSO. Today about half of our {n2} users report a login loop. "
            "The rest can log in fine. We have not changed anything in {idp} on our side. I attached a "
            "HAR file of one attempt.\n\nThis is blocking our whole front desk, please treat as urgent.",
            "i log in with our company single sign on and then it just goes back to the login screen "
            "over and over again. cleared cookies already. help",
            "Our SAML setup stopped working. The SAML response looks valid in the SAML tracer (signed, "
            "right audience), but Silo never creates the session and redirects back to the IdP. Is "
            "there anything in your logs for {domain}?",
            "Users on Safari (Mac and iPhone) get stuck in a sign-in loop with SSO. Chrome works. Is "
            "this a known issue?",
            "Since we rotated our {idp} signing certificate yesterday, SSO sends everyone round in "
            "circles. I uploaded the new certificate in Settings > Security > SSO. Did I miss a step?",
            "Can't login. SSO loop. Whole team affected. {company}",
        ],
        "details": [
            "Entity ID is https://{domain}/saml and the ACS URL is the one from your setup page. The "
            "clock on our {idp} server is NTP synced.",
            "HAR file attached. The loop starts right after the POST to /saml/acs.\n\n[img:har_loop.png]",
            "It's mostly people on Safari and on the iOS app webview. Chrome on Windows seems fine.",
        ],
        "question": [
            "Sorry about this! Could you tell me which identity provider you use, whether anything "
            "changed recently (certificate rotation, new app in the IdP), and send a HAR file or SAML "
            "trace of one failed attempt?",
            "Thanks for the report. Does the loop happen for every user or only some, and in which "
            "browsers? A SAML tracer export of one attempt would help a lot.",
        ],
        "workaround": [
            "Thanks, the trace was really useful. Our login service rejects the assertion because its "
            "NotBefore time is a few seconds in the future from our point of view (clock skew), and "
            "instead of showing an error it sends the browser back to the IdP - hence the loop.\n\n"
            "While we fix that, you can:\n1. Sign in with a password-enabled admin account.\n2. Go to "
            "Settings > Security > SSO.\n3. Set 'Allowed clock skew' to 120 seconds and save.\n\nThat "
            "stops the loop for most setups.",
            "The session cookie set after the SAML POST is being dropped by Safari (it's a cross-site "
            "POST and our cookie was missing SameSite=None; Secure). A workaround until the fix ships: "
            "start the login from https://app.silo-demo.example.com/sso/{domain} instead of the IdP "
            "dashboard - that way the cookie is first-party.",
        ],
        "resolution": [
            "We released a fix this morning: assertions within 3 minutes of clock skew are accepted, "
            "and a rejected assertion now shows an error page instead of redirecting. Your users "
            "should be able to log in normally again.",
            "The cookie fix for Safari went live an hour ago. Please ask your users to close all Silo "
            "tabs and sign in again; the loop should be gone.",
        ],
        "notes": [
            "SAML assertion NotBefore 4s ahead of our clock. Rejected with 'assertion not yet valid', "
            "we then redirect to IdP = loop. {eng}.",
            "Customer on {idp}. Cookie dropped on Safari (SameSite). Added to {eng}.",
            "Enterprise account, SSO mandatory for all users. Escalated to on-call.",
        ],
        "still": ["Set the clock skew to 120 like you said, still looping for some people."],
    },
    {
        "key": "invoice_wrong_tax",
        "count": 12,
        "group": 7001,
        "type": "Problem",
        "tags": ["billing", "invoice", "vat"],
        "eng": "BILL-412",
        "subjects": [
            "Wrong VAT on invoice", "Invoice shows incorrect tax", "Tax on our invoice PDF is wrong",
            "Invoice {invoice} - VAT charged although we have a VAT ID", "incorrect tax rate",
            "Please correct invoice (tax)",
        ],
        "openings": [
            "Our latest invoice ({invoice}) charges {vat_wrong} VAT, but we are a registered business "
            "in {country} and gave you our VAT number. It should be reverse charge. Our accountant "
            "won't accept it like this. Please send a corrected invoice.",
            "The invoice PDF shows the wrong tax:\n\n|Item|Qty|Net|Tax|\n|{plan} plan|{seats_new}|"
            "{amount}|{vat_wrong}|\n\nWe are in {country}, so the rate should be {vat_right}.",
            "Hi, the tax on the invoice is wrong again. Same as last month. Can you please fix it for "
            "good this time.",
            "Our finance team noticed that invoice {invoice} lists sales tax for a state we are not in. "
            "Our billing address is in {city}. Where does this come from?",
            "Bonjour, the invoice for this month has TVA at the wrong rate and our company number is "
            "not printed on it. We need a correct invoice for our bookkeeping, merci.",
            "Accounting here. The PDF invoice says 'VAT {vat_wrong}' but the amount charged on the card "
            "was different. Which one is right? Screenshot below.\n\n[img:invoice_{n2}.png]",
            "Could you re-issue {invoice} without tax? Our VAT ID is validated in VIES. Thanks.",
        ],
        "details": [
            "Our VAT ID is {country}{n2}4410{n}9 and the billing address is in {city}, {country}.",
            "The billing address was changed by my colleague in {date}. Before that invoices were fine.",
            "Yes, I'm an account owner. The VAT number is in Settings > Billing, I can see it there.",
        ],
        "question": [
            "Thanks for flagging this. Could you confirm the VAT ID and billing address you have on the "
            "account (Settings > Billing)? Invoices take the tax rate from the billing country at the "
            "moment the invoice is created.",
            "I'm sorry about the confusion. Can you tell me which invoice number(s) are affected and the "
            "VAT ID you expect to see?",
        ],
        "workaround": [
            "I found the cause: the VAT ID on your account was saved but never validated (the "
            "validation service was down on the day it was entered), so our billing system treated "
            "you as a consumer and applied {vat_wrong}.\n\nI've re-validated it now. Future invoices "
            "will use reverse charge. For the existing invoice:\n1. I've voided {invoice}.\n2. A "
            "corrected invoice will arrive by email within the hour.\n3. The difference will be "
            "refunded to your card in 5-10 business days.",
            "The billing address has a country but no postcode, and our tax engine fell back to the "
            "default rate. I've completed the address from your details. Please check Settings > "
            "Billing once more and I'll regenerate the PDF.",
        ],
        "resolution": [
            "Here's the corrected invoice (attached). The tax line now reads 'Reverse charge - VAT "
            "to be accounted for by the recipient', and the refund of the difference has been issued.",
            "Done: the invoice has been regenerated with the right rate ({vat_right}). You can also "
            "download it from Settings > Billing > Invoices.",
        ],
        "notes": [
            "VAT ID stored but vies_validated=false. Re-ran validation, OK. Voided and re-issued. "
            "See {eng}.",
            "Billing address had no postcode, tax engine fell back to the default rate. Completed the "
            "address and regenerated the PDF. {eng}.",
        ],
        "still": ["The new invoice still shows the old rate?"],
    },
    {
        "key": "csv_export_timeout",
        "count": 11,
        "group": 7002,
        "type": "Problem",
        "tags": ["export", "reports", "timeout"],
        "eng": "ENG-2377",
        "subjects": [
            "CSV export times out", "Export to CSV fails for large date range", "Timesheet export: 504 error",
            "Report export never finishes", "Cannot export shifts (Gateway Timeout)",
            "export not working",
        ],
        "openings": [
            "When I export the timesheet report for the whole quarter to CSV, the spinner runs for about "
            "a minute and then I get '504 Gateway Timeout'. One month at a time works, but that's "
            "painful. We need the full export for payroll.",
            "Export CSV not working!! Click export, wait, error. We have ~{n2}00 shifts per month.",
            "Hello,\nwe are trying to export all shifts from 1 January to today for our audit. The export "
            "fails every time with an error page:\n\n[img:export_error.png]\n\nSmaller ranges work.",
            "The reports page times out when I choose 'Last 12 months' and CSV. Is there a limit on "
            "how much you can export? Nothing in the docs about it.",
            "Hi - our payroll provider needs a CSV of all hours worked since {date}. Export just times "
            "out. Could you send me the file directly?",
            "Since your update last week the export has become super slow and now it fails completely "
            "for our {n} locations. Used to take 10 seconds.",
            "I get 'Something went wrong, please try again' when exporting the invoices list to CSV for "
            "the year. Tried {n} times.",
        ],
        "details": [
            "The range is 1 Jan to {date}, all {n} locations, all employees. About {rows} rows I guess.",
            "It fails after exactly 60 seconds every time. {browser}.",
            "Yes, month by month works. The full year doesn't.",
        ],
        "question": [
            "Sorry for the hassle! Could you tell me which report and date range you're exporting, and "
            "roughly how many locations and employees are included?",
            "Thanks for reporting this. Does a smaller date range (one month) export fine? That tells me "
            "whether it's the size of the export.",
        ],
        "workaround": [
            "Large CSV exports are currently generated while you wait, and our servers stop any request "
            "after 60 seconds - that's the 504 you see. Until exports run in the background, you can:\n"
            "- Export one quarter (or one month) at a time and combine the files, or\n- use the API "
            "endpoint /v1/reports/timesheets with paging, which has no time limit.\n\nSorry for the "
            "inconvenience.",
            "I ran the export for you from our side and attached the file ({rows} rows). For future "
            "exports, please split the range into months until the fix is live.",
        ],
        "resolution": [
            "Exports now run in the background: pick any range, click Export, and you'll get an email "
            "with a download link when the file is ready (usually within a few minutes). This went "
            "live today, please give it a try.",
            "Our developers fixed the slow query behind the timesheet export; the full-year export "
            "takes about 20 seconds now. Let me know if you still see a timeout.",
        ],
        "notes": [
            "Export of ~{rows} rows hits the 60s gateway timeout. Told customer to split by month. "
            "{eng} (background exports).",
            "Ran the export via the admin console and sent the file. Query plan shows a seq scan on "
            "shifts for multi-location exports - added to {eng}.",
        ],
        "still": ["Tried one quarter like you suggested and that also timed out."],
    },
    {
        "key": "android14_app_crash",
        "count": 16,
        "group": 7002,
        "type": "Incident",
        "tags": ["mobile", "android", "crash"],
        "eng": "MOB-877",
        "subjects": [
            "App crashes on Android after update", "Android app closes immediately", "app keeps crashing",
            "Silo app crash on startup (Android 14)", "Mobile app not opening since update",
            "Crash when opening schedule - Samsung", "Android app broken", "App crashes!!!",
        ],
        "openings": [
            "Since the app updated to {app_ver} yesterday it crashes as soon as I open it. {phone}, "
            "Android 14. Reinstalled twice, same thing.",
            "app crashes every time i open it. cant see my shifts. please fix",
            "Hi, several of our staff with Android phones can't use the Silo app any more since the last "
            "update. It shows the splash screen and then closes. iPhone users are fine. Phones I know "
            "of: {phone}, Pixel 7, Galaxy A54. All on Android 14 I think.",
            "The Android app crashes when I tap on 'My schedule'. The rest of the app works. Started "
            "after the update this week. Version {app_ver}.",
            "Our {n2} field staff rely on the app to clock in and since this morning it is crashing on "
            "all Android phones. This is a serious problem for us - nobody can clock in! Please advise "
            "urgently.",
            "Your app is crashing on my Samsung since the update. I get 'Silo keeps stopping'.\n\n"
            "[img:keeps_stopping.png]",
            "Hello, the application closes by itself when I open it. Telephone {phone}, I have updated "
            "everything. Can you help me please?",
            "Crash on launch, Android 14, app {app_ver}. Clearing cache/storage doesn't help. Happy to "
            "send logs if you tell me how.",
            "After updating the app (Play Store auto-update) it just crashes. My colleague with an older "
            "Android phone has no problem. Is there a way to go back to the old version?",
        ],
        "details": [
            "{phone}, Android 14, app version {app_ver}. It happened right after the Play Store update.",
            "It's all our Android 14 phones. The one Android 13 phone we have works.",
            "Notifications permission? I don't remember being asked anything. It just crashes.",
        ],
        "question": [
            "Sorry about that! Could you tell me the phone model, the Android version (Settings > About "
            "phone) and the Silo app version (it's on the Play Store page)?",
            "Thanks for letting us know. Does the crash happen right at startup or when you open a "
            "specific screen? And which Android version are you on?",
        ],
        "workaround": [
            "Thanks! This is a known problem with version {app_ver} on Android 14: the app crashes when "
            "it tries to schedule shift reminders without the new 'exact alarms' permission. Until the "
            "fixed version is out, this usually works:\n1. Open Android Settings > Apps > Silo.\n2. Tap "
            "'Alarms & reminders' and allow it.\n3. Open the app again.\n\nIf you don't see that option, "
            "you can use https://app.silo-demo.example.com in the phone's browser in the meantime.",
            "We're aware of this crash on Android 14 after the latest update and a fix is on its way. "
            "In the meantime, please use the mobile website (app.silo-demo.example.com) - clock-in "
            "works there too.",
        ],
        "resolution": [
            "Version 5.8.2 is now live in the Play Store and fixes the Android 14 crash. Please update "
            "(Play Store > Silo > Update) and let me know if it still happens.",
            "The fixed app ({fixed_ver}) has finished rolling out. Your staff may need to open the Play "
            "Store and tap Update if auto-update hasn't kicked in yet.",
        ],
        "notes": [
            "Crashlytics: SecurityException scheduleExactAlarm on API 34. Known, {eng}. Fix in 5.8.2.",
            "Another Android 14 crash. {eng}. Customer has {n2} Android users.",
            "5.8.2 in review at Google, should roll out in 1-2 days.",
        ],
        "still": ["There is no 'Alarms & reminders' option on my phone. Still crashing."],
    },
    {
        "key": "double_charge",
        "count": 10,
        "group": 7001,
        "type": "Problem",
        "tags": ["billing", "payment", "refund"],
        "eng": "BILL-398",
        "subjects": [
            "Charged twice", "Double charge on credit card", "We were billed twice this month",
            "Duplicate payment", "two payments taken??", "Refund request - duplicate charge",
        ],
        "openings": [
            "We've been charged twice for our subscription this month - two charges of {amount} on the "
            "same day on the card ending {last4}. Please refund one of them.",
            "Why did you take 2 payments from my card??? I only have one account. I want my money back "
            "today.",
            "Hello,\n\nOur bank statement shows the following:\n\n|Date|Description|Amount|\n|{date}|"
            "SILO SUBSCRIPTION|{amount}|\n|{date}|SILO SUBSCRIPTION|{amount}|\n\nOnly one invoice was "
            "sent to us. Could you look into it and refund the duplicate?",
            "Hi there, I updated our credit card on the billing page because the old one expired and "
            "now I see two charges. I think the first attempt did go through after all?",
            "Double charge on card ...{last4}. Invoice {invoice}. Please refund.",
            "Our accounts team flagged a duplicate payment to Silo on {date}. Could you confirm whether "
            "this is a mistake or a charge for something else (seats?). Thanks.",
            "I was charged {amount} twice after upgrading to the {plan} plan. Screenshot from my banking "
            "app:\n\n[img:bank_app.png]",
        ],
        "details": [
            "Both charges are {amount}, card ending {last4}, both on {date}. One says 'pending' still.",
            "Yes it was after I updated the card. The page showed an error the first time so I clicked "
            "Save again.",
            "Both have been settled, not pending. Our bank says they can't do anything, we have to ask "
            "you.",
        ],
        "question": [
            "Sorry about that! Could you send me the amounts, dates and the last 4 digits of the card, "
            "so I can find both payments in our payment system?",
            "Thanks for reaching out. Did you update the card or retry a payment around that time? "
            "That helps me find out what happened.",
        ],
        "workaround": [
            "I can see both payments. When the card was updated, the first attempt timed out on our side "
            "but did succeed at the bank, and then the retry charged the card again. I've refunded the "
            "duplicate ({amount}). Refunds usually show up within 5-10 business days depending on "
            "your bank.",
            "One of the two charges is only an authorisation hold (pending) and will drop off by itself "
            "within a few days - your bank releases it automatically. The other one is the actual "
            "payment. If the pending one is still there after 7 days, please let me know.",
        ],
        "resolution": [
            "The refund of {amount} for the duplicate charge has been processed (refund reference "
            "re_{n2}K{n}Q). You'll receive a separate receipt by email.",
            "The pending authorisation has dropped off now - only the one payment of {amount} "
            "remains. We've also changed the card update page so it no longer places a second hold "
            "when Save is clicked twice.",
        ],
        "notes": [
            "Stripe: two succeeded charges 40s apart, second from the retry after the gateway timeout. "
            "Refunded the second. {eng}.",
            "One charge is an uncaptured auth, will expire. No refund needed.",
            "Payment method update double charge again - {eng}.",
        ],
        "still": ["I still don't see the refund on my statement."],
    },
    {
        "key": "webhook_401",
        "count": 9,
        "group": 7002,
        "type": "Problem",
        "tags": ["api", "webhooks", "integration"],
        "eng": "ENG-2402",
        "subjects": [
            "Webhooks failing with 401", "Webhook deliveries unauthorized", "webhooks stopped working",
            "401 on webhook after rotating secret", "Webhook signature invalid since yesterday",
        ],
        "openings": [
            "Our webhook endpoint {webhook_url} started rejecting all Silo deliveries with 401 since "
            "{date}. We verify the X-Silo-Signature header with our webhook secret and it no longer "
            "matches. Did you change the signing algorithm?",
            "All webhook deliveries failed in the last {n} days (the delivery log shows 401). Nothing "
            "changed on our side. Integration is broken, our HR system is out of sync.",
            "Hi, I rotated the webhook secret in Settings > Developers as our security policy requires, "
            "updated it in our app, and now every delivery fails with 401. Rolled back our app, same.",
            "Webhook 401s. Delivery log:\n\n|Event|Status|Time|\n|shift.created|401|{time}|\n|shift.updated"
            "|401|{time}|\n|timesheet.approved|401|{time}|\n\nAny ideas?",
            "Our developer says the signature from your webhooks is computed differently now. The docs "
            "say HMAC-SHA256 of the body. Is that still true?",
            "We get 401 from our own API gateway when your webhooks arrive - it looks like the "
            "Authorization header we configured is not sent anymore.",
        ],
        "details": [
            "We compute hex(HMAC-SHA256(secret, raw_body)) and compare to X-Silo-Signature. Worked for a "
            "year.",
            "The secret was rotated on {date}. The old one is deleted in your UI.",
            "Endpoint is {webhook_url}, behind our API gateway which checks a Bearer token.",
        ],
        "question": [
            "Thanks for reporting this. Did you rotate the webhook secret recently, and how does your "
            "endpoint verify deliveries (signature header, or a custom Authorization header)?",
            "Could you share the webhook endpoint URL and the time of one failed delivery? Then I can "
            "check exactly what we sent.",
        ],
        "workaround": [
            "Found it: after a secret rotation, deliveries are signed with the new secret, but the "
            "X-Silo-Signature header still carries the key id of the old one, and our newer SDKs pick "
            "the key by id. Until the fix is out:\n1. Go to Settings > Developers > Webhooks.\n2. Click "
            "'Rotate secret' once more and wait 2 minutes.\n3. Use the new secret in your endpoint.\n\n"
            "A second rotation resets the key id correctly.",
            "Since last week's change, custom headers (like your Authorization header) are dropped when "
            "the webhook is edited. Re-adding the header in the webhook settings and saving once more "
            "brings it back. We're fixing the underlying bug.",
        ],
        "resolution": [
            "The fix for the signature key id after rotation is live. Failed deliveries from the last "
            "72 hours can be replayed from the delivery log ('Retry failed'). Let me know if anything "
            "still fails.",
            "Our developers have fixed the header bug and I've replayed the failed deliveries for "
            "you. Your delivery log should show 200s now.",
        ],
        "notes": [
            "Key id mismatch after rotation (kid still old). {eng}. Workaround: rotate twice.",
            "Custom headers lost when webhook edited - {eng}.",
        ],
        "still": ["Rotated twice, still 401 on about half of the deliveries."],
    },
    {
        "key": "google_calendar_duplicates",
        "count": 13,
        "group": 7002,
        "type": "Problem",
        "tags": ["calendar", "google", "sync"],
        "eng": "ENG-2365",
        "subjects": [
            "Google Calendar sync creates duplicate events", "Duplicate shifts in Google Calendar",
            "Every shift appears 2-3 times in my calendar", "calendar duplicates",
            "Google sync duplicating events", "Events doubled after reconnecting Google",
        ],
        "openings": [
            "Every shift appears twice (sometimes three times) in my Google Calendar since I reconnected "
            "the integration. Deleting them doesn't help, they come back at the next sync.",
            "google calendar has tons of duplicate events from silo. my calendar is unreadable now.",
            "Hello,\nafter we changed the calendar name to '{cal_name}' in Silo, the sync to Google "
            "Calendar created a second copy of all events. We now have {n2} duplicates for next month. "
            "Screenshot:\n\n[img:gcal_duplicates.png]",
            "Our team calendar in Google shows each shift twice - one with the old title format and one "
            "with the new. Started around {date}.",
            "Is it normal that when a manager edits a shift, a new event is created in Google Calendar "
            "instead of updating the existing one? We have lots of outdated duplicates now.",
            "Calendar sync is duplicating events for all {n} people on my team. We use Google Workspace.",
            "Hi, I disconnected and reconnected Google Calendar (because it stopped syncing) and now I "
            "have everything doubled. How do I clean this up without deleting by hand?",
        ],
        "details": [
            "Yes, I reconnected on {date} because it showed 'Sync error'. The duplicates started then.",
            "It's the calendar '{cal_name}'. About {n2} duplicate events in the next 4 weeks.",
            "Both copies have the same time, one has the location and one doesn't.",
        ],
        "question": [
            "Sorry about the mess in your calendar! Did you reconnect the Google integration or rename "
            "the calendar recently? And is it your personal calendar or a shared one?",
            "Thanks for the report. Could you tell me which calendar the events go to, and send a "
            "screenshot of two duplicates with the event details open?",
        ],
        "workaround": [
            "When the integration is reconnected, our sync loses the link between shifts and existing "
            "Google events and creates new ones. To clean up:\n1. In Silo, go to Settings > "
            "Integrations > Google Calendar.\n2. Click 'Remove synced events' (this deletes every "
            "event Silo created, old and new).\n3. Click 'Sync now' to create one fresh copy.\n\nDon't "
            "delete duplicates by hand - the sync will recreate them.",
            "I've run a clean-up job on our side that removed the duplicate events from "
            "'{cal_name}'. Please don't reconnect the integration in the meantime; a fix for the "
            "reconnect issue is being tested.",
        ],
        "resolution": [
            "The reconnect fix has been released: the sync now matches existing events by their Silo "
            "id instead of creating new ones. After one more 'Remove synced events' + 'Sync now' you "
            "shouldn't see duplicates again.",
            "Our team has released a fix and cleaned up the duplicates for your account. Your calendar "
            "should show one event per shift from now on.",
        ],
        "notes": [
            "extendedProperties.private.silo_id missing on events created before the reconnect -> "
            "duplicates. {eng}.",
            "Ran gcal_dedupe for the account, removed {n2} events.",
            "Another reconnect duplicate. {eng} fix in QA.",
        ],
        "still": ["Did the remove + sync, the duplicates came back after a day."],
    },
    {
        "key": "reminder_wrong_timezone",
        "count": 8,
        "group": 7002,
        "type": "Problem",
        "tags": ["notifications", "timezone", "reminders"],
        "eng": "ENG-2388",
        "subjects": [
            "Shift reminders show the wrong time", "Reminder emails an hour off", "Wrong timezone in SMS reminders",
            "reminders wrong time since clocks changed", "Reminder sent for wrong time",
        ],
        "openings": [
            "Since the clocks changed on the weekend, shift reminder emails show times one hour off. "
            "The shift is at 9:00 in the app but the reminder says 8:00. Staff are confused and "
            "{n} people came in early today!",
            "Reminders are in the wrong time zone. We're in {city} ({tz}) and the reminder SMS shows "
            "UTC times.",
            "Hi! Our staff at the {city} location get reminders with the wrong time. Our other location "
            "is fine. Both are set up the same way I think?",
            "reminder says my shift starts at 14:00 but it's 15:00. which one is right?? almost missed "
            "my shift",
            "The 'Your shift tomorrow' email shows the time in Eastern time but our business is in "
            "{city}. Where can I change this?",
            "After DST ended, reminders are 1 hour early. The schedule itself is correct.\n\n"
            "[img:reminder_email.png]",
        ],
        "details": [
            "Account timezone is {tz}. The location {city} is set to... I'm not sure, where do I see it?",
            "It's every reminder since Sunday. Before that they were correct.",
            "The staff member's profile has {tz} as well.",
        ],
        "question": [
            "Thanks for reporting this. Could you check the timezone on the account (Settings > "
            "General) and on the location (Locations > edit) and tell me what they show?",
            "Sorry for the confusion! Do the reminders show the wrong time for all staff or only for one "
            "location? And since when?",
        ],
        "workaround": [
            "The location is set to 'UTC' while the account is set to {tz}. Reminders use the "
            "location's timezone. To fix it:\n1. Go to Locations and edit {city}.\n2. Set 'Time zone' "
            "to {tz}.\n3. Save - reminders sent from now on will use the right time.",
            "Reminders are generated a day ahead with the offset valid at that moment, so reminders "
            "created just before the clocks changed carry the old offset. That only affects reminders "
            "created in the 24 hours around the change; we're fixing it to use the offset of the shift "
            "date instead.",
        ],
        "resolution": [
            "Fixed: I've set the {city} location to {tz}, and I've re-sent tomorrow's reminders with "
            "the correct time.",
            "We've released a fix so reminders use the offset on the day of the shift, not the day the "
            "reminder was created. The next change of the clocks won't cause this again.",
        ],
        "notes": [
            "Location timezone NULL -> falls back to UTC. Set it manually. Related to {eng}.",
            "Reminder job uses UTC offset at enqueue time, not shift date. DST bug, {eng}.",
        ],
        "still": ["Changed the location time zone, the reminder this morning was still wrong."],
    },
    {
        "key": "seats_not_updated_after_upgrade",
        "count": 10,
        "group": 7001,
        "type": "Problem",
        "tags": ["billing", "seats", "plan"],
        "eng": "BILL-430",
        "subjects": [
            "Seat count not updated after upgrade", "Upgraded but still can't add users",
            "Bought more seats - limit still shows old number", "Licence count wrong",
            "Paid for {seats_new} seats, only have {seats_old}", "user limit reached after upgrading?",
        ],
        "openings": [
            "We upgraded from {seats_old} to {seats_new} seats this morning and paid, but when I invite "
            "a new employee it says 'You've reached your seat limit ({seats_old}/{seats_old})'.",
            "Paid for more licences and still can't add anyone. What's going on?",
            "Hello, yesterday I upgraded to the {plan} plan with {seats_new} users. The invoice is "
            "correct ({invoice}) but the admin page still shows {seats_old} seats and I can't invite "
            "the new staff who start on Monday.",
            "Seat limit not updated. Screenshot:\n\n[img:seat_limit.png]\n\nInvoice paid, plan {plan}.",
            "Our licence count shows {seats_old} but we have paid for {seats_new}. Can you fix this "
            "manually please? We have {n} new hires waiting for their invites.",
            "I added {n} seats via Billing > Change plan. Card was charged. Still 'seat limit reached' "
            "when inviting. Logged out and in again, no difference.",
            "hi we upgraded but the number of users didnt change. thanks",
        ],
        "details": [
            "Invoice {invoice}, paid on {date}. The billing page says {seats_new} seats, the Users page "
            "says {seats_old}.",
            "Yes, I'm the account owner. I did the upgrade on my phone, in case it matters.",
        ],
        "question": [
            "Thanks for reaching out! Could you tell me the invoice number of the upgrade and what the "
            "Billing page shows as the number of seats?",
            "Sorry about that. Did the upgrade go through the Billing page or through our sales team? "
            "And roughly when?",
        ],
        "workaround": [
            "I can see the payment for {seats_new} seats, but the change didn't reach your account's "
            "limits because the payment confirmation arrived after our upgrade step had already given "
            "up. I've applied the new seat count manually: you should now see {seats_new} seats under "
            "Users. Please try inviting again.",
            "Please try Billing > 'Refresh subscription' (small link under the plan name). That "
            "re-reads the subscription from our payment provider and usually updates the seat count "
            "within a minute.",
        ],
        "resolution": [
            "The seat limit is now {seats_new}. We've also fixed the upgrade step so it waits for the "
            "payment confirmation properly. Sorry for the delay in onboarding your new staff!",
            "Your account now has {seats_new} seats and I've resent the pending invites for you.",
        ],
        "notes": [
            "Subscription quantity {seats_new} in Stripe, account.seat_limit still {seats_old}. Webhook "
            "invoice.paid arrived after upgrade job timeout. Fixed by hand. {eng}.",
            "Seat sync issue again, {eng}. Manually synced.",
        ],
        "still": ["Refresh subscription did nothing. Still {seats_old}."],
    },
    {
        "key": "two_factor_codes_rejected",
        "count": 9,
        "group": 7003,
        "type": "Problem",
        "tags": ["login", "2fa", "security"],
        "eng": "ENG-2310",
        "subjects": [
            "2FA code not accepted", "Two-factor authentication codes rejected", "Invalid code when logging in",
            "authenticator code doesn't work", "Locked out - 2FA says invalid code",
        ],
        "openings": [
            "My two-factor codes from Google Authenticator are always rejected with 'Invalid code'. I "
            "type them in well before they expire. I'm locked out now.",
            "2fa not working. says invalid code every time. I need access today",
            "Hi, since I got a new phone my authenticator codes don't work any more. I moved the "
            "accounts with the transfer function in the app. Can you reset my 2FA?",
            "One of our managers ({colleague1}) can't log in because the 2FA code is always wrong. She "
            "uses Microsoft Authenticator on an Android phone. Everyone else is fine.",
            "The SMS code arrives but when I enter it, it says 'This code is invalid or expired'. "
            "Usually it takes a minute or two for the SMS to arrive.",
            "Authenticator codes rejected. I checked the time on my phone, it's correct. Tried {n} codes "
            "in a row.",
        ],
        "details": [
            "My phone's date & time is set manually because I travel a lot. Could that matter?",
            "It's Google Authenticator on an iPhone. I did the transfer to a new phone on {date}.",
            "The SMS arrives after about 2 minutes, and then it's rejected.",
        ],
        "question": [
            "Sorry you're locked out. Could you check whether your phone's date & time is set to "
            "'automatic'? Authenticator codes depend on the clock being accurate to within ~30 seconds.",
            "For security I'll need to verify your identity before resetting anything. Could you reply "
            "from the email on the account and confirm the name of your company and your role?",
        ],
        "workaround": [
            "Authenticator codes are based on the current time, so a phone clock that's off by more "
            "than a minute produces codes we reject. Please:\n1. Set date & time to automatic on your "
            "phone.\n2. In Google Authenticator: Settings > Time correction for codes > Sync now "
            "(Android).\n3. Try a fresh code.\n\nIf you're still locked out after that, I can reset 2FA "
            "once your identity is verified.",
            "SMS codes are valid for 60 seconds and your carrier delivers them late. I've extended the "
            "validity window to 5 minutes for SMS codes on your account as a stop-gap; please try "
            "again.",
        ],
        "resolution": [
            "Your identity is verified and I've reset two-factor authentication on your account. At "
            "your next login you'll be asked to scan a new QR code. Please keep the backup codes "
            "somewhere safe!",
            "We've widened the accepted time window for codes, which fixes the rejections for phones "
            "with a slightly drifting clock. You should be able to log in now.",
        ],
        "notes": [
            "TOTP drift +90s on customer's device. Server only accepts +-30s. {eng} to allow +-1 step.",
            "SMS from the carrier arrives ~2 min late. Extended SMS code validity on the account. {eng}.",
            "Identity verified via account owner email + callback to number on file.",
        ],
        "still": ["Synced the time, codes still rejected."],
    },
    {
        "key": "csv_import_utf8_bom",
        "count": 8,
        "group": 7002,
        "type": "Problem",
        "tags": ["import", "csv", "employees"],
        "eng": "ENG-2415",
        "subjects": [
            "CSV import fails: unknown column", "Can't import employees from Excel CSV",
            "Import error 'email column missing'", "Employee import not working",
            "Import says column 'ï»¿email' not found",
        ],
        "openings": [
            "I'm trying to import {n2} employees from a CSV exported from Excel. The import fails with "
            "\"Unknown column 'ï»¿email'\". The column is definitely called email, I used your template.",
            "Import keeps failing with 'Required column email is missing' but it's right there in the "
            "first column!! File attached.",
            "Hello, when I upload the staff list (CSV UTF-8 from Excel) I get the error below. With the "
            "same file saved from Google Sheets it works. Why?\n\n[img:import_error.png]",
            "Employee import broken? Our HR exported the file as 'CSV UTF-8 (Comma delimited)' like "
            "your help article says and the import rejects it.",
            "The import preview shows the first column header as 'ï»¿first_name' with weird characters "
            "and then refuses to continue. The rest of the headers look fine:\n\n|Column|Detected as|\n"
            "|ï»¿first_name|unknown|\n|last_name|Last name|\n|email|Email|",
            "csv import error on the first column, the file opens fine in excel. tried 3 times",
        ],
        "details": [
            "Excel for Mac, 'CSV UTF-8'. The file has {n2} rows.",
            "If I open the file in Notepad and save it as plain UTF-8 it works. But our HR can't do "
            "that every time.",
        ],
        "question": [
            "Sorry about this! Could you tell me how the file was saved (which program, and which CSV "
            "option)? If you can attach the file (or the first few lines), even better.",
        ],
        "workaround": [
            "Excel's 'CSV UTF-8' option adds an invisible byte order mark (BOM) at the very start of "
            "the file, and our importer currently reads it as part of the first column's name - that's "
            "the 'ï»¿' you see. Until we fix it, either:\n- save from Excel as 'CSV (Comma delimited)' "
            "instead of 'CSV UTF-8', or\n- add an empty first column to the file, or\n- save the file "
            "from Google Sheets / Numbers.",
        ],
        "resolution": [
            "The importer now ignores the byte order mark, so files saved as 'CSV UTF-8' from Excel "
            "import correctly. This fix went live today.",
            "Fixed on our side - please upload the original file again, it should go through now.",
        ],
        "notes": [
            "UTF-8 BOM in header. csv.DictReader without encoding='utf-8-sig'. {eng}.",
            "BOM again. {eng} fix merged, deploy tomorrow.",
        ],
        "still": ["Saved as 'CSV (Comma delimited)', now the names with accents are broken (JosÃ©)."],
    },
]

# One-off tickets: (key, subject, opening, agent reply, customer reply or "")
ONE_OFFS = [
    ("oneoff_dark_mode_request", "Feature request: dark mode",
     "Love the app! Any plans for a dark mode? Working night shifts, the white screen is blinding at "
     "3am.",
     "Thanks for the kind words! Dark mode is on our roadmap - I've added your vote to the feature "
     "request so you'll be notified when it ships.", "Awesome, thanks!"),
    ("oneoff_gdpr_deletion", "Delete former employee's data (GDPR)",
     "A former employee has asked us to delete all their personal data under GDPR. How do we do "
     "this in Silo? Archiving them seems to keep everything.",
     "Archived users keep their history for payroll records. To erase someone completely:\n1. Go to "
     "Users > Archived.\n2. Open the person and choose 'Erase personal data'.\n3. Confirm. Timesheet "
     "totals are kept, but anonymised.\n\nLet me know if you need a confirmation letter for the "
     "employee.", "Done, thank you. A confirmation letter would be great actually."),
    ("oneoff_nonprofit_discount", "Nonprofit discount?",
     "We are a registered charity running a food bank with volunteers. Do you offer any discount "
     "for nonprofits?",
     "We do! Registered nonprofits get 30% off any plan. Please send a copy of your registration "
     "certificate and I'll apply the discount to your next invoice.", ""),
    ("oneoff_rename_company", "Change company name on account",
     "We rebranded from {company} to {company} Group. How do I change the company name that shows on "
     "invoices and in the app?",
     "You can change it yourself under Settings > General > Company name; invoices created after the "
     "change will show the new name. For past invoices I can regenerate them if needed.",
     "Found it, thanks. No need for the old ones."),
    ("oneoff_api_rate_limit", "API rate limit question",
     "What's the rate limit on the REST API? We're planning a nightly sync of about 5,000 records.",
     "The API allows 300 requests per minute per account; list endpoints return up to 200 records "
     "per page, so 5,000 records is about 25 requests. You'll get a 429 with Retry-After if you go "
     "over.", ""),
    ("oneoff_helpcenter_typo", "Typo in help article",
     "Small thing: the help article 'Setting up overtime rules' says 'overtine' twice. Just fyi!",
     "Ha, good catch - fixed! Thanks for taking the time to tell us.", ""),
    ("oneoff_soc2_report", "SOC 2 report request",
     "Our procurement team needs your SOC 2 Type II report and a completed security questionnaire "
     "before we can sign the annual contract. Who should I talk to?",
     "I've shared the SOC 2 Type II report through our trust portal (you'll get a separate email to "
     "sign the NDA). For the questionnaire, our security team will get in touch within 2 business "
     "days.", "Received, thanks."),
    ("oneoff_cancel_subscription", "Cancel subscription",
     "We're closing our second shop at the end of the month and won't need Silo anymore. Please "
     "cancel our subscription from the next billing date. Thanks for everything.",
     "Sorry to see you go, and thank you for being a customer! I've scheduled the cancellation for "
     "the end of your current billing period. You can export your data until then.", ""),
    ("oneoff_accessibility_screen_reader", "Screen reader can't read the schedule grid",
     "One of our employees uses VoiceOver and the weekly schedule grid isn't readable - it just says "
     "'group' for every cell. Is there an accessible view?",
     "Thank you for raising this. The list view (Schedule > View as list) works with VoiceOver while "
     "we improve the grid; I've passed your report to our accessibility team.",
     "The list view works for her, thanks. Please do keep us posted on the grid."),
    ("oneoff_custom_domain_dns", "Custom domain for booking page not verifying",
     "I added a CNAME for book.{domain} pointing to pages.silo-demo.example.com 2 days ago and the "
     "domain still shows 'Pending verification'.",
     "Your DNS provider has an A record for book.{domain} as well as the CNAME, and the A record wins. "
     "Please delete the A record; verification runs every 15 minutes.", "Deleted it and it's verified now!"),
    ("oneoff_zapier_question", "Zapier integration - trigger for approved timesheets?",
     "Is there a Zapier trigger for when a timesheet is approved? I only see 'New shift'.",
     "Not yet in Zapier, but you can use our webhook 'timesheet.approved' with Zapier's 'Webhooks by "
     "Zapier' trigger. Here's the guide: https://help.silo-demo.example.com/webhooks", ""),
    ("oneoff_phone_support_hours", "Phone support hours",
     "What are your phone support hours? I couldn't find them on the website.",
     "Phone support is available Monday to Friday, 8am-6pm Eastern, on +1 (646) 555-0134 for Pro and "
     "Enterprise plans. Email and chat are available 24/7.", ""),
]
