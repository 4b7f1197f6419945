//! The third security review's web findings (issue 20, item 4): a page number past any offset is a 404
//! and the server keeps answering; the panic catcher is in the router and lets answers through.

use crate::backend_tests;
use crate::helpers::{spawn_app, TestDb};
use crate::tokens::create_token;
use crate::web::{class, Browser};

backend_tests!(a_page_number_past_any_offset_is_404_and_the_server_answers,);

async fn a_page_number_past_any_offset_is_404_and_the_server_answers(db: TestDb) {
    let app = spawn_app(&db).await;
    class(&app).await;
    let token = create_token(&app, "teach", "instructor", Some("course"));
    let mut b = Browser::new(&app.base_url);
    assert_eq!(b.sign_in(&token).await.status, 303);
    let attempt = app.attempts().await[0].id;
    for page in ["18446744073709551615", "9223372036854775807", "1000000"] {
        let answer = b.get(&format!("/attempts/{attempt}?page={page}")).await;
        assert_eq!(answer.status, 404, "page {page}: {}", answer.body);
        assert!(answer.body.contains("No page"), "{}", answer.body);
    }
    // The same browser (and connection pool) still gets its pages: nothing panicked.
    let fine = b.get(&format!("/attempts/{attempt}")).await;
    assert_eq!(fine.status, 200);
    // A normal answer passes through the panic catcher untouched: no request id.
    assert!(fine.headers.get("x-request-id").is_none());
    assert_eq!(b.get("/").await.status, 200);
}
