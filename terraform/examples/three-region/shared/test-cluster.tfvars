# The cluster every terraform test of the example's states plans: linked
# into each root's tests/ as cluster.auto.tfvars (terraform test reads
# *.auto.tfvars there). Runs override what they change.
cluster_name   = "cogitator-dr"
primary_region = "eu-west"
cluster_token  = "terraform-test-token-0123456789abcdef"
region_a = {
  name         = "eu-west"
  aws_region   = "eu-west-1"
  vpc_cidr     = "10.40.0.0/16"
  subnet_cidrs = ["10.40.1.0/24", "10.40.2.0/24"]
  azs          = ["eu-west-1a", "eu-west-1b"]
  bucket       = "cogitator-dr-eu-west-backups"
  priority     = 100
  dns_targets  = ["203.0.113.10"]
  nodes = [
    { id = 1, subnet = 0, private_ip = "10.40.1.10" },
    { id = 2, subnet = 1, private_ip = "10.40.2.10" },
  ]
  app_cidrs = ["10.50.0.0/16"]
  services = {
    pg      = "hostaddr=10.50.1.20 port=5432 dbname=cogitator user=drnode_backup"
    redis   = "10.50.1.30:6379"
    app_url = "http://10.50.1.40:3000"
  }
}
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
  nodes = [
    { id = 5, subnet = 0, private_ip = "10.42.1.10" },
  ]
}
admin_cidrs         = ["10.8.0.0/16"]
monitoring_cidrs    = ["10.9.0.0/24"]
package_url         = "https://artifacts.example.com/drnode/drnode_0.2.0_amd64.deb"
package_sha256      = "0000000000000000000000000000000000000000000000000000000000000000"
dns_zone_id         = "Z0123456789EXAMPLE"
service_names       = ["app.example.com"]
service_record_type = "A"
epoch_record_name   = "_dr-epoch.example.com"
