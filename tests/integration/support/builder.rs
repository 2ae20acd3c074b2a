//! [`TestHost::new`]'s builder: plugins, residents, doses, accounts, then
//! `start()` over a fresh temp data directory.

use super::*;

/// Builds a [`TestHost`].
pub struct Builder {
    plugins: Vec<(String, String)>,
    residents: usize,
    doses: bool,
    users: Vec<(String, String)>,
    roles: Option<String>,
}

impl TestHost {
    #[allow(clippy::new_ret_no_self)] // the builder reads as TestHost::new()...start()
    pub fn new() -> Builder {
        Builder {
            plugins: Vec::new(),
            residents: 0,
            doses: false,
            users: Vec::new(),
            roles: None,
        }
    }
}

impl Builder {
    /// Installs a plugin with its shipped policy.
    pub fn plugin(mut self, name: &str) -> Builder {
        self.plugins.push((name.to_owned(), policy(name)));
        self
    }

    /// Installs a plugin under a given policy.
    pub fn plugin_with_policy(mut self, name: &str, policy: &str) -> Builder {
        self.plugins.push((name.to_owned(), policy.to_owned()));
        self
    }

    /// Loads synthetic residents (and tickets) through the real plugins.
    pub fn residents(mut self, n: usize) -> Builder {
        self.residents = n;
        self
    }

    /// Also imports each resident's synthetic dose history (a VRS export)
    /// through the real dose-import plugin.
    pub fn doses(mut self) -> Builder {
        self.doses = true;
        self
    }

    /// Replaces the default roles file.
    pub fn roles(mut self, text: &str) -> Builder {
        self.roles = Some(text.to_owned());
        self
    }

    /// Adds a user with a role.
    pub fn user(mut self, name: &str, role: &str) -> Builder {
        self.users.push((name.to_owned(), role.to_owned()));
        self
    }

    pub async fn start(self) -> TestHost {
        // Hundreds of test accounts: cheap hashes (the binary, which the
        // real-server tests run, keeps OWASP's cost).
        kiroku::identity::password::use_cheap_parameters_for_tests();
        let dir = tempfile::tempdir().unwrap();
        let clock = FakeClock::at(Date::parse(TODAY).unwrap());
        let entropy = Arc::new(SeededEntropy::new(7));
        let runtime = Arc::new(Runtime::new(clock.clone(), entropy.clone()).unwrap());
        let app = Arc::new(App::new(DataDir::open(dir.path()).unwrap(), runtime));
        let code = TenantCode::parse(FUJISAWA).unwrap();
        let store = TenantStore::create(
            &app.dir,
            &code,
            "藤沢市",
            kiroku::roles::DEFAULT_ROLES,
            clock.as_ref(),
            entropy.as_ref(),
        )
        .unwrap();
        let actor = AdminActor::system("test-setup", clock.now_ms());
        let mut plugins = self.plugins;
        if self.residents > 0 {
            let mut needed = vec!["resident-sync", "ticket-issuance"];
            if self.doses {
                needed.push("dose-import");
            }
            for needed in needed {
                if !plugins.iter().any(|(n, _)| n == needed) {
                    plugins.push((needed.to_owned(), policy(needed)));
                }
            }
        }
        for (name, policy) in &plugins {
            admin::install_plugin(
                &app.dir,
                &app.runtime,
                &store,
                policy,
                &component(name),
                &actor,
            )
            .await
            .unwrap_or_else(|e| panic!("installing {name}: {e}"));
        }
        if let Some(roles) = &self.roles {
            admin::set_roles(&store, roles, &actor).unwrap();
        }
        let mut secrets = HashMap::new();
        let mut users = self.users.clone();
        users.push(("admin".into(), "admin".into()));
        for (name, role) in &users {
            let new = NewAccount {
                name: name.clone(),
                role: role.clone(),
                kind: Kind::Staff,
                valid_until_ms: None,
            };
            let enrolled =
                accounts::add_enrolled(&store, &new, TEST_PASSWORD, &actor, entropy.as_ref())
                    .unwrap();
            secrets.insert(name.clone(), secret_of(&enrolled.otpauth_uri));
        }
        // Tests move the clock by days; the idle-lock tests set their own.
        let long = Limits {
            idle_s: 86_400,
            lifetime_s: 30 * 86_400,
        };
        kiroku::identity::sessions::set_limits(&store, long, &actor).unwrap();
        drop(store);
        let residents = kiroku::synth::residents(self.residents, 11, Date::parse(TODAY).unwrap());
        let histories = if self.doses {
            kiroku::synth::dose_histories(&residents, 11)
        } else {
            vec![Vec::new(); residents.len()]
        };
        let mut host = TestHost {
            dir,
            app,
            clock,
            code,
            tokens: HashMap::new(),
            secrets,
            residents,
            histories,
            request_counter: Default::default(),
        };
        host.relogin().await;
        if !host.residents.is_empty() {
            host.load_residents().await;
        }
        if self.doses {
            let csv = kiroku::synth::to_vrs_csv(&host.residents, &host.histories, FUJISAWA);
            let (status, body) = host
                .upload("admin", "dose-import", "import", "", csv.into_bytes())
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["error_rows"], 0, "{body}");
        }
        host
    }
}
