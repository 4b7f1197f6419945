//! The App manifest flow: `/setup` serves the manifest form, the callback writes the credentials.

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{run, spawn_app, spawn_app_with, AppOptions, Backend, TestDb};

fn setup_options(db: &TestDb, api: &str) -> AppOptions {
    AppOptions {
        secrets: vec![],
        setup: Some(labtrail::setup::SetupConfig {
            public_url: url::Url::parse("https://labtrail.example.edu").expect("url"),
            github_web_url: url::Url::parse("https://github.example").expect("url"),
            github_api_url: url::Url::parse(api).expect("url"),
            dir: db.scratch_dir(),
        }),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_flow_writes_credentials_once() {
    run(Backend::Sqlite, |db| async move {
        let github = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/app-manifests/code123/conversions"))
            .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
                "id": 4242, "slug": "labtrail-course", "html_url": "https://github.example/apps/labtrail-course",
                "webhook_secret": "whsec-from-github", "pem": "-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----\n",
                "client_id": "Iv1.x", "client_secret": "y",
            })))
            .expect(1)
            .mount(&github)
            .await;
        let app = spawn_app_with(&db, setup_options(&db, &github.uri())).await;

        let page = app.get("/setup").await;
        assert_eq!(page.status().as_u16(), 200);
        let html = page.text().await.expect("html");
        assert!(html.contains("https://labtrail.example.edu/webhooks/github"), "{html}");
        let marker = "https://github.example/settings/apps/new?state=";
        let start = html.find(marker).expect("form action") + marker.len();
        let state: String = html[start..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        assert_eq!(state.len(), 32);

        let org_page = app.get("/setup?org=my-course").await;
        assert!(org_page.text().await.expect("html").contains("https://github.example/organizations/my-course/settings/apps/new"));
        let bad_org = app.get("/setup?org=a/b").await;
        assert_eq!(bad_org.status().as_u16(), 400);

        let forged = app.get("/setup/callback?code=code123&state=forged").await;
        assert_eq!(forged.status().as_u16(), 400);
        assert!(!db.scratch_dir().join(".env").exists());

        let ok = app.get(&format!("/setup/callback?code=code123&state={state}")).await;
        assert_eq!(ok.status().as_u16(), 200);
        let env = std::fs::read_to_string(db.scratch_dir().join(".env")).expect(".env written");
        assert!(env.contains("GITHUB_APP_ID=4242\n"), "{env}");
        assert!(env.contains("GITHUB_WEBHOOK_SECRET=whsec-from-github\n"), "{env}");
        assert!(env.contains("LABTRAIL_PUBLIC_URL=https://labtrail.example.edu/\n"), "{env}");
        let key = db.scratch_dir().join("labtrail-app.pem");
        assert!(std::fs::read_to_string(&key).expect("key").starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&key).expect("meta").permissions().mode() & 0o777, 0o600);
        }
        let again = app.get(&format!("/setup/callback?code=code123&state={state}")).await;
        assert_eq!(again.status().as_u16(), 400, "a state is good for one use");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_is_closed_once_configured() {
    run(Backend::Sqlite, |db| async move {
        let app = spawn_app(&db).await;
        let page = app.get("/setup").await;
        assert_eq!(page.status().as_u16(), 404);
    })
    .await
}
