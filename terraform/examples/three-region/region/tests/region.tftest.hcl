# terraform test with a mocked AWS provider (no account, no network): plans
# one region's state of the three-region example, once per region, and
# checks what a real apply would build from the real HCL: who reaches the
# raft and API ports, the voters' layout, and the drnode.ini every
# coordinator gets. scripts/terraform-check runs it (make terraform-check),
# and runs it again on broken copies of the configuration, each of which
# must fail.
#
# One provider: the state talks to its own region only. The module checks
# that the provider is in the region's AWS region (a precondition), so each
# run says where its mocked provider is (modules/region's own test has the
# case where they disagree).

mock_provider "aws" {
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws", dns_suffix = "amazonaws.com" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

run "eu_west" {
  command = plan

  variables {
    region = "eu-west"
  }

  assert {
    condition     = keys(output.node_configs) == ["1", "2"]
    error_message = "eu-west's state must build coordinators 1 and 2, and no other."
  }
  assert {
    condition     = output.drctl_endpoints == "http://10.40.1.10:8001,http://10.40.2.10:8001,http://10.41.1.10:8001,http://10.41.2.10:8001,http://10.42.1.10:8001"
    error_message = "Every state names all five API endpoints, from the fixed addresses."
  }

  # Raft: from the five members only, on the raft port.
  assert {
    condition = toset([for r in module.region.raft_ingress : "${r.cidr}:${r.port}"]) == toset([
      "10.40.1.10/32:7001", "10.40.2.10/32:7001", "10.41.1.10/32:7001",
      "10.41.2.10/32:7001", "10.42.1.10/32:7001",
    ])
    error_message = "eu-west's raft port must be open to exactly the five members."
  }

  # The API: every member (followers call the leader), admins, monitoring,
  # and the region's app; nothing else.
  assert {
    condition = toset([for r in module.region.api_ingress : "${r.from} ${r.cidr}:${r.port}"]) == toset([
      "member 10.40.1.10/32:8001", "member 10.40.2.10/32:8001",
      "member 10.41.1.10/32:8001", "member 10.41.2.10/32:8001",
      "member 10.42.1.10/32:8001", "admin 10.8.0.0/16:8001",
      "monitoring 10.9.0.0/24:8001", "app 10.50.0.0/16:8001",
    ])
    error_message = "eu-west's API port must be open to the members, admins, monitoring and its app, and nothing else."
  }

  # drnode.ini: the node's own addresses on the right ports, every member,
  # this region's services and probes, the fence hook.
  assert {
    condition = alltrue([
      strcontains(output.node_configs["1"], "\nraft_address = 10.40.1.10:7001\n"),
      strcontains(output.node_configs["1"], "\napi_address = 10.40.1.10:8001\n"),
      strcontains(output.node_configs["1"], "\n[member.5]\nregion = ap-south\nraft_address = 10.42.1.10:7001\napi_address = 10.42.1.10:8001\n"),
      strcontains(output.node_configs["1"], "\n[services]\npg = hostaddr=10.50.1.20 port=5432 dbname=cogitator user=drnode_backup\nredis = 10.50.1.30:6379\n"),
      strcontains(output.node_configs["1"], "\n[probes]\ninterval_ms = 5000\ntimeout_ms = 2000\napp_url = http://10.50.1.40:3000\n"),
      strcontains(output.node_configs["1"], "\n[hooks]\nfence = /etc/drnode/fence-hook\n"),
      strcontains(output.node_configs["1"], "\njoin = false\n"),
    ])
    error_message = "Node 1's drnode.ini lacks its addresses, a member, its services, probes or fence hook."
  }
  # The cluster token never travels in user data: cloud-init reads it from
  # SSM Parameter Store (a SecureString per region) with the role.
  assert {
    condition = alltrue([for ci in values(module.region.cloud_init) :
      !strcontains(ci, var.cluster_token) && !strcontains(ci, base64encode(var.cluster_token)) &&
      strcontains(ci, module.region.token_parameter) && strcontains(ci, "ssm get-parameter")
    ])
    error_message = "The user data must hold no token and read it from the region's SSM parameter."
  }
}

run "us_east" {
  command = plan

  variables {
    region = "us-east"
  }
  override_data {
    target = module.region.data.aws_region.current
    values = { name = "us-east-1" }
  }

  assert {
    condition     = keys(output.node_configs) == ["3", "4"]
    error_message = "us-east's state must build coordinators 3 and 4, and no other."
  }
  assert {
    condition     = strcontains(output.node_configs["3"], "\n[services]\n\n[probes]\ninterval_ms = 5000\n")
    error_message = "A region without services renders an empty [services] and probes no app."
  }
  assert {
    condition     = module.region.token_parameter == "/cogitator-dr/us-east/drnode-token"
    error_message = "Each region's token parameter is /CLUSTER/REGION/drnode-token."
  }
  assert {
    condition     = length([for r in module.region.api_ingress : r if r.from == "app"]) == 0
    error_message = "us-east has no app_cidrs: no app rule."
  }
}

run "ap_south" {
  command = plan

  variables {
    region = "ap-south"
  }
  override_data {
    target = module.region.data.aws_region.current
    values = { name = "ap-south-1" }
  }

  # Five voters, 2/2/1 over the three states: losing any one region leaves
  # a majority.
  assert {
    condition     = keys(output.node_configs) == ["5"]
    error_message = "ap-south's state must build coordinator 5 alone."
  }
  assert {
    condition     = length(module.region.raft_ingress) == 5
    error_message = "ap-south's raft port must be open to the five members."
  }
  # Built by three states, the five configs still agree outside [node].
  assert {
    condition = length(distinct([for c in concat(values(run.eu_west.node_configs), values(run.us_east.node_configs), values(output.node_configs)) :
    regex("\n\\[bootstrap\\]\n[\\s\\S]*", c)])) == 1
    error_message = "Every coordinator of every region's state must get the same [bootstrap], [member.*] and [region.*] sections."
  }
}

run "unknown_region_refused" {
  command = plan

  variables {
    region = "eu-central"
  }

  expect_failures = [var.region]
}

# Three voters in one region: losing it loses the majority. Refused.
run "three_voters_in_one_region_refused" {
  command = plan

  variables {
    region = "eu-west"
    region_b = {
      name         = "us-east"
      aws_region   = "us-east-1"
      vpc_cidr     = "10.41.0.0/16"
      subnet_cidrs = ["10.41.1.0/24", "10.41.2.0/24"]
      azs          = ["us-east-1a", "us-east-1b"]
      bucket       = "cogitator-dr-us-east-backups"
      priority     = 50
      dns_targets  = ["198.51.100.10"]
      nodes = [
        { id = 3, subnet = 0, private_ip = "10.41.1.10" },
        { id = 4, subnet = 1, private_ip = "10.41.2.10" },
        { id = 6, subnet = 1, private_ip = "10.41.2.11" },
      ]
    }
    region_c = {
      name         = "ap-south"
      aws_region   = "ap-south-1"
      vpc_cidr     = "10.42.0.0/16"
      subnet_cidrs = ["10.42.1.0/24"]
      azs          = ["ap-south-1a"]
      bucket       = "cogitator-dr-ap-south-backups"
      priority     = 10
      dns_targets  = ["192.0.2.10"]
      nodes        = []
    }
  }

  expect_failures = [var.region_c]
}

# Named tokens with roles: every node gets [api] tokens_file, and cloud-init
# reads the file from the region's SSM parameter (never user data).
run "api_tokens" {
  command = plan

  variables {
    region = "eu-west"
    api_tokens = {
      coordinators = { role = "node", token = "terraform-test-token-0123456789abcdef" }
      prometheus   = { role = "reader", token = "prometheus-reader-0123456789" }
    }
  }

  assert {
    condition     = alltrue([for c in values(output.node_configs) : strcontains(c, "\n[api]\ntokens_file = /etc/drnode/tokens\n")])
    error_message = "Every node must render [api] tokens_file once api_tokens are set."
  }
  assert {
    condition = alltrue([for ci in values(module.region.cloud_init) :
      strcontains(ci, "/cogitator-dr/eu-west/drnode-tokens") && !strcontains(ci, "prometheus-reader-0123456789")
    ])
    error_message = "cloud-init must read the tokens from SSM and never carry them."
  }
}

run "tls" {
  command = plan

  variables {
    region          = "eu-west"
    tls_ca_cert     = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"
    tls_node_certs  = { for i in ["1", "2", "3", "4", "5"] : i => "-----BEGIN CERTIFICATE-----\nNODE${i}\n-----END CERTIFICATE-----\n" }
    tls_node_keys   = { for i in ["1", "2", "3", "4", "5"] : i => "-----BEGIN PRIVATE KEY-----\nKEYBODY${i}\n-----END PRIVATE KEY-----\n" }
    tls_client_auth = true
  }

  assert {
    condition     = alltrue([for c in values(output.node_configs) : strcontains(c, "\n[tls]\ncert = /etc/drnode/tls/node.crt\nkey = /etc/drnode/tls/node.key\nca = /etc/drnode/tls/ca.crt\nclient_ca = /etc/drnode/tls/ca.crt\n")])
    error_message = "Every node must render [tls] once tls_ca_cert is set."
  }
  assert {
    condition = alltrue([for ci in values(module.region.cloud_init) :
      !strcontains(ci, "KEYBODY") && !strcontains(ci, "S0VZQk9EWQ") && strcontains(ci, "drnode-tls-key-")
    ])
    error_message = "cloud-init must read each TLS key from SSM and never carry one."
  }
  assert {
    condition     = length(module.region.tls_key_parameters) == 2
    error_message = "Each coordinator needs an SSM SecureString of its own for its key."
  }
  assert {
    condition     = startswith(output.drctl_endpoints, "https://10.40.1.10:8001,") && length(regexall("https://", output.drctl_endpoints)) == 5
    error_message = "With TLS the endpoints are https."
  }
}
