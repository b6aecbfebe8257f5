//! Static reference data of the modelled region, 巴音郭楞蒙古自治州 (Bayingolin Mongol Autonomous
//! Prefecture, Xinjiang): counties, departments, service items, places, and the material fake
//! personal data is made of. None of these strings contains `"`, `\`, `|` or a control
//! character, so they are written into records without escaping (checked by a test).

/// County: GB/T 2260 code, name, relative demand, places (towns and streets).
pub(crate) struct County {
    pub code: &'static str,
    pub name: &'static str,
    pub short: &'static str,
    pub weight: u32,
    pub places: &'static [&'static str],
}

pub(crate) const COUNTIES: &[County] = &[
    County {
        code: "652801",
        name: "库尔勒市",
        short: "库尔勒",
        weight: 46,
        places: &[
            "萨依巴格街道",
            "天山街道",
            "团结街道",
            "新城街道",
            "建设街道",
            "朝阳街道",
            "梨香街道",
            "塔什店镇",
            "上户镇",
            "铁克其乡",
            "恰尔巴格乡",
            "英下乡",
            "经济技术开发区",
            "人民东路",
            "石化大道",
            "萨依巴格路",
        ],
    },
    County {
        code: "652822",
        name: "轮台县",
        short: "轮台",
        weight: 8,
        places: &["轮台镇", "轮南镇", "群巴克镇", "阳霞镇", "哈尔巴克乡"],
    },
    County {
        code: "652823",
        name: "尉犁县",
        short: "尉犁",
        weight: 7,
        places: &["尉犁镇", "兴平乡", "墩阔坦乡", "喀尔曲尕乡", "古勒巴格乡"],
    },
    County {
        code: "652824",
        name: "若羌县",
        short: "若羌",
        weight: 3,
        places: &["若羌镇", "依吞布拉克镇", "瓦石峡镇", "铁干里克镇"],
    },
    County {
        code: "652825",
        name: "且末县",
        short: "且末",
        weight: 4,
        places: &["且末镇", "奥依亚依拉克镇", "塔提让镇", "阿羌乡"],
    },
    County {
        code: "652826",
        name: "焉耆回族自治县",
        short: "焉耆",
        weight: 9,
        places: &["焉耆镇", "七个星镇", "永宁镇", "四十里城子镇", "北大渠乡"],
    },
    County {
        code: "652827",
        name: "和静县",
        short: "和静",
        weight: 11,
        places: &[
            "和静镇",
            "巴润哈尔莫敦镇",
            "巴音布鲁克镇",
            "巩乃斯镇",
            "乃门莫敦镇",
        ],
    },
    County {
        code: "652828",
        name: "和硕县",
        short: "和硕",
        weight: 5,
        places: &["特吾里克镇", "塔哈其镇", "曲惠镇", "乌什塔拉回族乡"],
    },
    County {
        code: "652829",
        name: "博湖县",
        short: "博湖",
        weight: 4,
        places: &["博湖镇", "本布图镇", "乌兰再格森乡", "才坎诺尔乡"],
    },
];

/// Township part of 12-digit codes (the 6-digit county code is prefixed).
pub(crate) const TOWNSHIP_SUFFIXES: &[&str] = &[
    "000000", "000000", "001000", "002000", "003000", "004000", "005000", "100000", "101000",
    "102000", "103000", "200000", "201000", "202000", "400000",
];

/// Residential compounds and landmarks used in hotline free text.
pub(crate) const COMMUNITIES: &[&str] = &[
    "梨城花园",
    "金丰小区",
    "石化小区",
    "天山名城",
    "滨河小区",
    "阳光小区",
    "幸福家园",
    "建设小区",
    "教育小区",
    "康居小区",
    "孔雀河畔小区",
    "香梨大道沿线",
    "人民广场",
    "农贸市场",
    "汽车站",
    "第二中学门口",
    "梨花小区",
    "丝路花园",
    "东方花园",
    "博斯腾花苑",
];

/// A department: hotline abbreviation (`<county>-<abbr>`), name pattern (`{c}` = county
/// name), demand weight on the online platform (0: hotline only), hotline weight, and its
/// service items. Item markers: `!` an immediate item (即办件), `*` mostly enterprises apply.
pub(crate) struct DeptType {
    pub abbr: &'static str,
    pub pattern: &'static str,
    pub weight: u32,
    pub items: &'static [&'static str],
}

pub(crate) const DEPTS: &[DeptType] = &[
    DeptType {
        abbr: "ZJJ",
        pattern: "{c}住房和城乡建设局",
        weight: 8,
        items: &[
            "*建筑工程施工许可证核发",
            "*商品房预售许可",
            "*建设工程竣工验收备案",
            "*建筑业企业资质核准",
            "*燃气经营许可证核发",
            "*城镇污水排入排水管网许可",
            "公共租赁住房保障申请",
            "*房屋建筑工程质量监督登记",
            "!*建筑施工企业安全生产许可证变更",
            "*物业服务项目备案",
        ],
    },
    DeptType {
        abbr: "SJJ",
        pattern: "{c}市场监督管理局",
        weight: 14,
        items: &[
            "!*企业设立登记",
            "!*个体工商户设立登记",
            "*食品经营许可",
            "!*企业变更登记",
            "*企业注销登记",
            "*药品零售企业许可",
            "*特种设备使用登记",
            "*工业产品生产许可",
            "*食品小作坊登记",
            "!*个体工商户注销登记",
            "!*营业执照遗失补领",
            "*第二类医疗器械经营备案",
        ],
    },
    DeptType {
        abbr: "ZRZYJ",
        pattern: "{c}自然资源局",
        weight: 5,
        items: &[
            "*建设用地规划许可证核发",
            "*建设工程规划许可证核发",
            "乡村建设规划许可证核发",
            "*采矿权新立登记",
            "*建设项目用地预审与选址意见书核发",
            "*土地复垦方案审查",
            "*临时用地审批",
        ],
    },
    DeptType {
        abbr: "RSJ",
        pattern: "{c}人力资源和社会保障局",
        weight: 12,
        items: &[
            "!社会保障卡申领",
            "城乡居民养老保险参保登记",
            "失业保险金申领",
            "!就业创业证申领",
            "工伤认定申请",
            "*劳务派遣经营许可",
            "退休人员基本养老金申领",
            "!社会保险个人权益记录查询打印",
            "职业技能等级证书补发",
            "灵活就业人员社会保险补贴申领",
        ],
    },
    DeptType {
        abbr: "GAJ",
        pattern: "{c}公安局",
        weight: 10,
        items: &[
            "居民身份证换领",
            "户口迁入登记",
            "!出生登记",
            "!居住证签注",
            "机动车注册登记",
            "!机动车驾驶证补领",
            "*旅馆业特种行业许可证核发",
            "!户籍证明出具",
        ],
    },
    DeptType {
        abbr: "MZJ",
        pattern: "{c}民政局",
        weight: 6,
        items: &[
            "!结婚登记",
            "!离婚登记",
            "最低生活保障审批",
            "*社会团体成立登记",
            "*养老机构备案",
            "临时救助申请",
            "困难残疾人生活补贴和重度残疾人护理补贴申请",
        ],
    },
    DeptType {
        abbr: "WJW",
        pattern: "{c}卫生健康委员会",
        weight: 6,
        items: &[
            "*公共场所卫生许可",
            "*医疗机构执业登记",
            "医师执业注册",
            "!出生医学证明办理",
            "*放射诊疗许可",
            "计划生育家庭特别扶助申请",
        ],
    },
    DeptType {
        abbr: "JTJ",
        pattern: "{c}交通运输局",
        weight: 5,
        items: &[
            "*道路运输经营许可",
            "道路运输从业人员从业资格证核发",
            "*出租汽车经营许可",
            "*超限运输车辆行驶公路许可",
            "网络预约出租汽车驾驶员证核发",
            "*道路货物运输车辆年度审验",
        ],
    },
    DeptType {
        abbr: "JYJ",
        pattern: "{c}教育局",
        weight: 4,
        items: &[
            "*民办学校办学许可",
            "教师资格认定",
            "*校外培训机构设立审批",
            "义务教育入学登记",
            "学生资助申请",
        ],
    },
    DeptType {
        abbr: "SWJ",
        pattern: "国家税务总局{c}税务局",
        weight: 10,
        items: &[
            "!*发票领用",
            "!*税务登记信息确认",
            "个人所得税经营所得汇算清缴",
            "!*增值税专用发票代开",
            "*退抵税费申请",
            "!完税证明开具",
        ],
    },
    DeptType {
        abbr: "HBJ",
        pattern: "巴音郭楞蒙古自治州生态环境局{c}分局",
        weight: 2,
        items: &[
            "*建设项目环境影响报告表审批",
            "*排污许可证核发",
            "*危险废物经营许可",
            "!*建设项目环境影响登记表备案",
        ],
    },
    DeptType {
        abbr: "NYJ",
        pattern: "{c}农业农村局",
        weight: 5,
        items: &[
            "*农药经营许可",
            "*兽药经营许可",
            "*农作物种子生产经营许可",
            "*动物防疫条件合格证核发",
            "农村村民宅基地审批",
            "拖拉机和联合收割机驾驶证申领",
            "农机购置补贴申请",
        ],
    },
    DeptType {
        abbr: "SLJ",
        pattern: "{c}水利局",
        weight: 3,
        items: &[
            "*取水许可",
            "*河道管理范围内建设项目工程建设方案审批",
            "*生产建设项目水土保持方案审批",
            "农业灌溉用水计划申请",
        ],
    },
    DeptType {
        abbr: "WLJ",
        pattern: "{c}文化体育广播电视和旅游局",
        weight: 2,
        items: &[
            "*营业性演出许可",
            "*娱乐场所经营许可",
            "*互联网上网服务营业场所经营许可",
            "*旅行社设立许可",
        ],
    },
    DeptType {
        abbr: "YJJ",
        pattern: "{c}应急管理局",
        weight: 2,
        items: &[
            "*危险化学品经营许可",
            "*烟花爆竹经营许可",
            "!*生产安全事故应急预案备案",
        ],
    },
    DeptType {
        abbr: "SFJ",
        pattern: "{c}司法局",
        weight: 2,
        items: &["法律援助申请", "人民调解申请", "基层法律服务工作者执业核准"],
    },
    DeptType {
        abbr: "TYJRJ",
        pattern: "{c}退役军人事务局",
        weight: 2,
        items: &[
            "退役士兵安置",
            "优抚对象抚恤补助申请",
            "!退役军人优待证申领",
            "烈士褒扬金发放",
        ],
    },
    DeptType {
        abbr: "YBJ",
        pattern: "{c}医疗保障局",
        weight: 8,
        items: &[
            "!基本医疗保险参保登记",
            "!异地就医备案",
            "门诊慢特病待遇认定",
            "医疗费用手工报销",
            "生育保险待遇核准",
            "*定点医药机构申请",
        ],
    },
    DeptType {
        abbr: "LCJ",
        pattern: "{c}林业和草原局",
        weight: 2,
        items: &[
            "*林木采伐许可证核发",
            "*使用林地审核",
            "*草原征占用审核",
            "*陆生野生动物人工繁育许可",
        ],
    },
    DeptType {
        abbr: "FGW",
        pattern: "{c}发展和改革委员会",
        weight: 3,
        items: &[
            "!*企业投资项目备案",
            "*企业投资项目核准",
            "*固定资产投资项目节能审查",
            "价格认定",
        ],
    },
    DeptType {
        abbr: "SWUJ",
        pattern: "{c}商务和工业信息化局",
        weight: 2,
        items: &[
            "!*对外贸易经营者备案登记",
            "*成品油零售经营资格审批",
            "!*单用途商业预付卡发卡企业备案",
            "*二手车交易市场经营者备案",
        ],
    },
    DeptType {
        abbr: "CGJ",
        pattern: "{c}城市管理局",
        weight: 3,
        items: &[
            "*城市建筑垃圾处置核准",
            "*户外广告设施设置审批",
            "*占用城市道路审批",
            "*挖掘城市道路审批",
            "临时占用城市绿地审批",
        ],
    },
    DeptType {
        abbr: "GJJ",
        pattern: "巴音郭楞蒙古自治州住房公积金管理中心{c}管理部",
        weight: 8,
        items: &[
            "!住房公积金提取",
            "住房公积金个人住房贷款",
            "!*住房公积金单位缴存登记",
            "!住房公积金缴存证明出具",
        ],
    },
    DeptType {
        abbr: "CL",
        pattern: "{c}残疾人联合会",
        weight: 2,
        items: &[
            "残疾人证办理",
            "残疾人就业创业补贴申请",
            "残疾人辅助器具适配申请",
        ],
    },
    DeptType {
        abbr: "GDGS",
        pattern: "国网巴州供电公司{c}供电服务中心",
        weight: 0,
        items: &[],
    },
    DeptType {
        abbr: "GPS",
        pattern: "{c}供排水有限公司",
        weight: 0,
        items: &[],
    },
    DeptType {
        abbr: "RLGS",
        pattern: "{c}热力有限公司",
        weight: 0,
        items: &[],
    },
    DeptType {
        abbr: "ZFB",
        pattern: "{c}人民政府办公室",
        weight: 0,
        items: &[],
    },
];

/// Hotline free-text templates: category, department abbreviation (`*`: a department drawn
/// from the service items), text. `{p}` a place of the county, `{c}` a compound, `{i}` a
/// service item, `{d}` a department name.
pub(crate) const HOTLINE_TEMPLATES: &[(usize, &str, &str)] = &[
    (0, "*", "咨询{i}需要准备哪些材料，在哪里办理"),
    (0, "*", "咨询{i}的办理进度"),
    (0, "*", "咨询{i}能否在网上办理"),
    (0, "RSJ", "咨询社会保障卡补办流程和办理地点"),
    (0, "GJJ", "咨询住房公积金提取条件及到账时间"),
    (0, "YBJ", "咨询城乡居民医疗保险缴费标准和截止时间"),
    (0, "JYJ", "咨询孩子义务教育阶段入学报名时间"),
    (0, "GAJ", "咨询居住证办理需要提供哪些证明"),
    (0, "ZRZYJ", "咨询不动产权证书办理进度"),
    (0, "RSJ", "咨询养老保险待遇资格认证方式"),
    (1, "GPS", "{p}{c}停水已一天，请求尽快恢复供水"),
    (1, "GDGS", "{p}{c}停电，请求尽快抢修"),
    (1, "RLGS", "{p}{c}暖气不热，室温只有十几度，请求处理"),
    (1, "CGJ", "{p}有下水道井盖缺失，存在安全隐患，请求尽快修复"),
    (1, "RSJ", "在{p}务工被拖欠工资三个月，请求帮助追讨"),
    (1, "CGJ", "{p}路灯不亮，夜间出行不便，请求维修"),
    (1, "MZJ", "家中老人低保待遇停发，请求帮助核实"),
    (2, "CGJ", "{p}{c}附近工地夜间施工，噪音扰民"),
    (2, "ZJJ", "{p}{c}物业不作为，电梯长期故障无人维修"),
    (2, "CGJ", "{p}商户占道经营，影响通行"),
    (2, "SJJ", "在{p}一超市购买到过期食品，要求处理"),
    (2, "JYJ", "{p}一培训机构拒不退还剩余课时费用"),
    (2, "HBJ", "{p}{c}楼下餐馆油烟扰民"),
    (2, "JTJ", "出租车司机在{p}拒载、绕路"),
    (2, "ZJJ", "{c}开发商逾期交房，不动产权证迟迟办不下来"),
    (2, "*", "到{d}办理{i}，窗口要求多次补交材料，来回跑了好几趟"),
    (2, "CGJ", "{p}{c}楼下烧烤摊占道，油烟和噪音扰民"),
    (3, "CGJ", "举报{p}附近有人非法倾倒建筑垃圾"),
    (3, "SJJ", "举报{p}一商店无证经营"),
    (3, "JTJ", "举报{p}有货车超限超载运输"),
    (3, "YJJ", "举报{p}{c}有人违规储存烟花爆竹"),
    (3, "HBJ", "举报{p}一企业夜间偷排污水"),
    (3, "ZRZYJ", "举报{p}有人私自开采砂石"),
    (4, "JTJ", "建议在{p}增设公交站点"),
    (4, "CGJ", "建议在{c}周边增加停车位"),
    (4, "*", "建议{d}延长周末办理时间"),
    (4, "CGJ", "建议在{p}增设公共厕所"),
    (5, "*", "表扬{d}窗口工作人员热情周到，耐心解答"),
    (5, "GDGS", "表扬{p}供电抢修人员及时排除故障"),
    (5, "MZJ", "感谢{p}社区工作人员帮助解决实际困难"),
];

/// Endings of hotline free text with their weights; some need JSON escaping (quotes, a line
/// break). The first three suit every category, the rest complaints and requests.
pub(crate) const HOTLINE_TAILS: &[(u32, &str)] = &[
    (40, "。"),
    (15, "。来电人要求回复处理结果。"),
    (10, "。来电人要求对其个人信息保密。"),
    (15, "，请尽快处理。"),
    (5, "。\n来电人情绪激动，称已多次反映。"),
    (5, "。来电人称已向\"社区\"反映，至今未解决。"),
    (10, "，希望相关部门重视。"),
];

pub(crate) const REPLY_TEXTS: &[&str] = &[
    "经核实，已安排工作人员现场核查，问题已解决，已电话告知来电人。",
    "已联系施工单位，责令其夜间停止施工，并告知来电人。",
    "已向来电人详细解释相关政策及办理流程，来电人表示理解。",
    "已督促物业公司维修，现已恢复正常。",
    "经查，反映情况属实，已依法立案处理。",
    "经查，反映情况不属实，已向来电人反馈核查结果。",
    "已协调相关单位，预计三个工作日内完成整改。",
    "来电人诉求涉及历史遗留问题，已做好解释和安抚工作。",
];

pub(crate) const RETURN_REASONS: &[&str] = &[
    "非我单位职责范围，建议转属地乡镇（街道）办理",
    "诉求地址不清，无法核实",
    "该事项已由其他部门受理",
];

pub(crate) const EXTEND_REASONS: &[&str] = &[
    "需协调多部门联合处理",
    "涉及工程整改，周期较长",
    "需等待第三方检测结果",
];

pub(crate) const URGE_REASONS: &[&str] = &[
    "即将超期，请加快办理",
    "已超期未办结，请尽快办理并回复",
    "群众多次来电催办",
];

pub(crate) const STEP_NORMAL: &[&str] =
    &["受理审查", "审核", "审批决定", "专家评审", "公示", "制证"];
pub(crate) const STEP_ONSITE: &[&str] = &["现场勘查", "现场核验", "窗口核验原件"];
pub(crate) const STEP_SUSPEND: &[&str] =
    &["补正材料告知", "特别程序（现场核查）", "特别程序（听证）"];
pub(crate) const STEP_RESUME: &[&str] = &["补正材料已提交", "特别程序结束"];

pub(crate) const EVAL_GOOD: &[&str] = &[
    "办理速度快，服务态度好",
    "全程网上办理，很方便",
    "不用跑腿，点赞",
    "工作人员耐心细致",
];
pub(crate) const EVAL_BAD: &[&str] = &[
    "办理时间太长",
    "多次要求补交材料",
    "窗口工作人员态度差",
    "系统经常卡顿，提交不了",
];

/// Real-estate registration offices per county (bdc `BLJG`); `{c}` = county name.
pub(crate) const BDC_OFFICES: &[&str] = &[
    "{c}不动产登记中心",
    "{c}不动产登记中心",
    "{c}不动产登记中心",
    "{c}政务服务中心不动产登记窗口",
];
pub(crate) const KORLA_EXTRA_OFFICES: &[&str] = &[
    "库尔勒市不动产登记中心经济技术开发区分中心",
    "库尔勒市不动产登记中心城北服务点",
];

/// Han surnames, most frequent first.
pub(crate) const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "肖", "田", "董", "袁", "潘", "于", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁",
    "任", "沈", "姚", "卢", "姜", "崔", "钟", "谭", "陆", "汪", "范", "金", "石", "廖", "贾", "夏",
    "韦", "付", "方", "白", "邹", "孟", "熊", "秦", "邱", "江", "尹", "薛", "闫", "段", "雷", "侯",
    "龙", "史", "陶", "黎", "贺", "顾", "毛", "郝", "龚", "邵", "万", "钱", "严", "武", "戴", "孔",
    "汤", "欧阳", "司马",
];

/// Characters of Han given names. `珅` (GB18030 `AB 7C`, ending in the byte of `|`) is among them.
pub(crate) const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "秀", "英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "霞", "平", "刚", "桂", "华", "建", "国", "文", "辉", "鹏", "飞", "宇", "浩",
    "婷", "雪", "琳", "晨", "欣", "怡", "佳", "子", "涵", "梓", "轩", "博", "宁", "东", "海", "波",
    "玉", "兰", "红", "梅", "凤", "春", "燕", "萍", "鑫", "斌", "峰", "亮", "成", "龙", "云", "新",
    "丹", "慧", "颖", "倩", "莉", "晶", "俊", "凯", "帅", "健", "荣", "德", "福", "生", "林", "珍",
    "清", "志", "宏", "永", "利", "金", "山", "疆", "梨", "珅",
];

pub(crate) const UYGHUR_MALE: &[&str] = &[
    "艾力",
    "买买提",
    "阿不都热合曼",
    "吐尔逊",
    "艾尔肯",
    "买合木提",
    "亚森",
    "依明",
    "克里木",
    "沙吾提",
    "麦麦提",
    "努尔买买提",
    "阿布力孜",
    "图尔洪",
    "热合曼",
    "艾合买提",
    "肉孜",
    "玉素甫",
    "阿地力",
    "帕尔哈提",
];
pub(crate) const UYGHUR_FEMALE: &[&str] = &[
    "阿依古丽",
    "古丽娜尔",
    "迪丽努尔",
    "热依拉",
    "帕提古丽",
    "祖丽菲亚",
    "米热古丽",
    "阿依努尔",
    "古再丽努尔",
    "努尔尼萨",
    "再娜甫",
    "热孜婉古丽",
];
pub(crate) const MONGOL: &[&str] = &[
    "巴特尔",
    "乌兰",
    "其其格",
    "额尔德尼",
    "那仁格日勒",
    "巴音",
    "孟克",
    "吉日格勒",
    "斯琴",
    "道尔吉",
    "巴图",
    "娜仁",
    "乌云",
    "苏和",
    "朝鲁",
    "敖登",
    "格日勒",
    "宝音",
    "哈斯",
    "达瓦",
];

pub(crate) const COMPANY_WORDS: &[&str] = &[
    "华源",
    "天元",
    "瑞丰",
    "金梨",
    "孔雀河",
    "塔里木",
    "博斯腾",
    "天山",
    "新丝路",
    "鸿达",
    "恒通",
    "众诚",
    "兴业",
    "西域",
    "绿洲",
    "驼铃",
];
pub(crate) const COMPANY_TRADES: &[&str] = &[
    "商贸有限公司",
    "建筑工程有限公司",
    "餐饮管理有限公司",
    "农业科技有限公司",
    "物流有限公司",
    "房地产开发有限公司",
    "石油技术服务有限公司",
    "棉业有限责任公司",
    "香梨种植农民专业合作社",
    "汽车服务有限公司",
    "文化传媒有限公司",
    "酒店管理有限公司",
];

/// Birthplace codes of ID numbers: the counties above plus common places of origin.
pub(crate) const ORIGIN_CODES: &[&str] = &[
    "650102", "650103", "650104", "652901", "653101", "410102", "410526", "412723", "510104",
    "511324", "620102", "621121", "130102", "370102", "340102", "500101",
];

/// Mobile number prefixes (China Mobile, Unicom, Telecom).
pub(crate) const MOBILE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152",
    "153", "155", "156", "157", "158", "159", "166", "177", "180", "181", "182", "183", "185",
    "186", "187", "188", "189", "191", "198", "199",
];
